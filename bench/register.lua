-- POST /auth/register with a fresh email each time.
local counter = 0
local prefix = tostring(os.time()) .. tostring(math.random(1000000))
request = function()
  counter = counter + 1
  local body = string.format('{"email":"r%s-%d@example.com","password":"benchmark password"}', prefix, counter)
  return wrk.format("POST", "/auth/register", {["Content-Type"] = "application/json"}, body)
end
