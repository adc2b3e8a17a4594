-- POST /auth/refresh as chains of rotations: each answer's refresh token is the
-- next request's. Seed tokens come one per line from the file named by REFRESH_TOKENS.
-- It spends no token on the call wrk makes to request() before the
-- run, only to inspect the request (on its first thread): that call would lose a chain, and a
-- connection left without one sends empty tokens, whose quick 401s inflate the rate.
local queue = {}
local file = io.open(os.getenv("REFRESH_TOKENS"), "r")
for line in file:lines() do table.insert(queue, line) end
file:close()
local inspected = false
local function refresh(token)
  return wrk.format("POST", "/auth/refresh", {["Content-Type"] = "application/json"}, '{"refresh_token":"' .. token .. '"}')
end
request = function()
  if not inspected then
    inspected = true
    return refresh("")
  end
  return refresh(table.remove(queue, 1) or "")
end
response = function(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then table.insert(queue, token) end
end
