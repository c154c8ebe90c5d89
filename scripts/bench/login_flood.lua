-- wrk script: a flood of wrong-password logins.
wrk.method = "POST"
wrk.body = '{"username":"admin","password":"not-the-password"}'
wrk.headers["Content-Type"] = "application/json"
