-- POST /auth/refresh as chains of rotations: each answer's refresh token is the next request's.
-- Seed tokens come one per line from the file named by REFRESH_TOKENS.
local queue = {}
local file = io.open(os.getenv("REFRESH_TOKENS"), "r")
for line in file:lines() do table.insert(queue, line) end
file:close()
request = function()
  local token = table.remove(queue, 1) or ""
  return wrk.format("POST", "/auth/refresh", {["Content-Type"] = "application/json"}, '{"refresh_token":"' .. token .. '"}')
end
response = function(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then table.insert(queue, token) end
end
