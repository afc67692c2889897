-- Appends one event to a topic's stream and to the feed, atomically.
-- KEYS: 1 epoch, 2 seq, 3 topic stream, 4 feed stream, 5 trimmed hash,
--       6 topic's index list ("ms id" per entry, oldest first),
--       7 tokens of this window, 8 tokens of the previous window,
--       9 topics sorted set (score: last append, ms), 10 tombs hash
-- ARGV: 1 new epoch (used if the log has none or rolled back), 2 topic,
--       3 type, 4 data, 5 now (ms), 6 max entries per topic,
--       7 age cutoff (ms, 0: none), 8 feed length, 9 token ('' for none),
--       10 token lifetime (ms), 11 seen seq, 12 seen epoch,
--       13 the topic's tomb bucket
-- Returns {id, epoch}.

-- A retry of an Append that was stored (its reply lost) answers with the
-- stored ID. A retry repeats every argument, so it looks in the same windows.
local tok = ARGV[9]
if tok ~= '' then
  local id = redis.call('HGET', KEYS[7], tok) or redis.call('HGET', KEYS[8], tok)
  if id then
    return {id, string.match(id, '-(%d+)$')}
  end
end

-- The log: its epoch, and a new one if it has none (a new or emptied Redis)
-- or if its sequence is below a position this instance has seen in it
-- (Redis restarted from an older snapshot, or failed over to a lagging
-- replica): positions must never be reused for other events.
local epoch = redis.call('GET', KEYS[1])
if epoch and epoch == ARGV[12] then
  local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
  if cur < tonumber(ARGV[11]) then
    epoch = nil
  end
end
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
local seq = redis.call('INCR', KEYS[2])
local id = string.format('%d-%s', seq, epoch)
redis.call('XADD', KEYS[3], id, 'type', ARGV[3], 'data', ARGV[4], 't', ARGV[5])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], id,
  'topic', ARGV[2], 'type', ARGV[3], 'data', ARGV[4], 't', ARGV[5])
-- A topic created anew may have had a history that was freed (sweep.lua):
-- a replay from before the freed history's end is incomplete.
if redis.call('RPUSH', KEYS[6], ARGV[5] .. ' ' .. id) == 1 then
  local tomb = redis.call('HGET', KEYS[10], ARGV[13])
  if tomb then
    redis.call('HSET', KEYS[5], ARGV[2], tomb)
  end
end
redis.call('ZADD', KEYS[9], ARGV[5], ARGV[2])
if tok ~= '' then
  redis.call('HSET', KEYS[7], tok, id)
  redis.call('PEXPIRE', KEYS[7], ARGV[10])
end

-- Retention, by count and by age, from the index list: no entry's data is
-- read. The last entry dropped is remembered, so that a replay from before
-- it knows its history is incomplete.
local dropped
local n = redis.call('LLEN', KEYS[6]) - tonumber(ARGV[6])
if n > 0 then
  local old = redis.call('LPOP', KEYS[6], n)
  dropped = old[#old]
end
local cutoff = tonumber(ARGV[7])
if cutoff > 0 then
  for _ = 1, 100 do
    local first = redis.call('LINDEX', KEYS[6], 0)
    if not first or tonumber(string.match(first, '^(%d+) ')) >= cutoff then
      break
    end
    dropped = redis.call('LPOP', KEYS[6])
  end
end
if dropped then
  redis.call('HSET', KEYS[5], ARGV[2], string.match(dropped, ' (.+)$'))
  local first = redis.call('LINDEX', KEYS[6], 0)
  redis.call('XTRIM', KEYS[3], 'MINID', string.match(first, ' (.+)$'))
end
return {id, epoch}
