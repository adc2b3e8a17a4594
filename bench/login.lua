-- POST /auth/login for one seeded user ($LOGIN_EMAIL, default bench@example.com).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"' .. (os.getenv("LOGIN_EMAIL") or "bench@example.com") .. '","password":"benchmark password"}'
