-- wrk script: each request buys 1 unit as a random buyer from tokens.txt.
-- Usage: wrk -s purchase.lua URL/api/sales/<id>/purchase  (tokens.txt in the cwd)
local tokens = {}
for line in io.lines("tokens.txt") do tokens[#tokens + 1] = line end
math.randomseed(os.time())
wrk.method = "POST"
wrk.body = '{"quantity":1}'
wrk.headers["Content-Type"] = "application/json"

request = function()
  wrk.headers["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]
  return wrk.format()
end

local codes = {}
response = function(status)
  codes[status] = (codes[status] or 0) + 1
end

done = function()
  -- wrk runs response() per thread; this only reports what it can see.
end
