-- Rate limits that hold for the cluster, not per replica (issue 11): each limited key (an
-- advertiser's postbacks, an affiliate endpoint's deliveries) has one row with the current
-- one-second window and how much of its budget replicas have taken. Replicas lease tokens in
-- chunks (packages/db/src/shared-rate.ts), so most admissions never reach this table.
-- Unlogged: a crash that empties it only forgets the current second's spending.
create unlogged table rate_budgets (
  key text primary key,
  window_second bigint not null,
  used integer not null check (used >= 0)
);

-- Takes up to p_want tokens of p_limit for window p_second and returns how many it got (0 when
-- the window's budget is spent). A replica whose clock runs behind asks for a window already
-- over: it gets nothing, and asks again in its next second.
create function take_rate_budget(p_key text, p_second bigint, p_want integer, p_limit integer)
returns integer language plpgsql as $$
declare
  w bigint;
  u integer;
  granted integer;
begin
  loop
    select window_second, used into w, u from rate_budgets where key = p_key for update;
    if not found then
      granted := greatest(0, least(p_want, p_limit));
      begin
        insert into rate_budgets (key, window_second, used) values (p_key, p_second, granted);
        return granted;
      exception when unique_violation then
        -- another replica created the row first: take from it like any other time
      end;
    else
      if w > p_second then
        return 0;
      end if;
      if w < p_second then
        u := 0;
      end if;
      granted := greatest(0, least(p_want, p_limit - u));
      update rate_budgets set window_second = p_second, used = u + granted where key = p_key;
      return granted;
    end if;
  end loop;
end $$;
