-- GET /auth/validate with a different token each request, cycling through the file named by
-- $TOKENS (one access token per line, each from its own session). Each wrk thread starts at
-- its own random place.
local tokens = {}
local index = 0

function init(args)
  for line in io.lines(os.getenv("TOKENS")) do
    tokens[#tokens + 1] = line
  end
  math.randomseed(os.time() + #tokens)
  index = math.random(#tokens)
end

function request()
  index = index % #tokens + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[index] })
end
