-- Every request gets a unique value in the parameter named by the path's `{n}` placeholder, so
-- each postback is a new transaction (not a duplicate) and each bare insert a new row.
local counter = 0
local tid = 0
local template = ""

function setup(thread)
  tid = tid + 1
  thread:set("tid", tid)
end

function init(args)
  template = args[1]
end

function request()
  counter = counter + 1
  local path = string.gsub(template, "{n}", tid .. "-" .. counter)
  return wrk.format("GET", path)
end
