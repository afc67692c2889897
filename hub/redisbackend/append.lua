-- Appends one event to a topic's stream and to the feed, atomically.
-- KEYS: epoch, seq, topic stream, feed stream, trimmed hash
-- ARGV: new epoch (used if none), topic, type, data, now (ms),
--       max entries per topic, age cutoff (ms, 0: none), feed length
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
local seq = redis.call('INCR', KEYS[2])
local id = seq .. '-' .. epoch
redis.call('XADD', KEYS[3], id, 'type', ARGV[3], 'data', ARGV[4], 't', ARGV[5])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], id,
  'topic', ARGV[2], 'type', ARGV[3], 'data', ARGV[4], 't', ARGV[5])

-- Retention by count: remember the last entry dropped, so that a replay
-- from before it knows its history is incomplete.
local maxlen = tonumber(ARGV[6])
local len = redis.call('XLEN', KEYS[3])
if len > maxlen then
  local old = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', len - maxlen)
  redis.call('HSET', KEYS[5], ARGV[2], old[#old][1])
  redis.call('XTRIM', KEYS[3], 'MAXLEN', maxlen)
end

-- Retention by age: drop up to 100 expired entries from the front.
local cutoff = tonumber(ARGV[7])
if cutoff > 0 then
  local head = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 100)
  local ids = {}
  for _, e in ipairs(head) do
    local f = e[2]
    if tonumber(f[6]) < cutoff then
      ids[#ids + 1] = e[1]
    else
      break
    end
  end
  if #ids > 0 then
    redis.call('HSET', KEYS[5], ARGV[2], ids[#ids])
    redis.call('XDEL', KEYS[3], unpack(ids))
  end
end
return {id, epoch}
