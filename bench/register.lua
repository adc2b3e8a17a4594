-- POST /auth/register with a fresh email each time. With REGISTER_PATH set (better-auth's
-- /api/auth/sign-up/email, for bench/peers.sh) it posts there, with the name better-auth requires.
local counter = 0
local prefix = tostring(os.time()) .. tostring(math.random(1000000))
local path = os.getenv("REGISTER_PATH") or "/auth/register"
local name = os.getenv("REGISTER_PATH") and '"name":"bench",' or ""
request = function()
  counter = counter + 1
  local body = string.format('{%s"email":"r%s-%d@example.com","password":"benchmark password"}', name, prefix, counter)
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end
