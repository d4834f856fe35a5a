-- test/hostile/framework.sql — tables and the one-call runner of the hostile
-- input driver (test/drivers/hostile_input.sh).
--
--   hx_call      one row per call to try (built by test/hostile/matrix.sql)
--   hx_result    one row per call tried (written by hx_one, or by the shell
--                driver for a call that lost the connection or timed out)
--   hx_doc_code  the SQLSTATEs of the error-code tables in docs/*.md (loaded
--                by the shell driver at run time)
--   hx_snap()    a fingerprint of every program's rows (ledger included)
--   hx_one(id)   runs one call in a subtransaction that is always rolled back
--                and records what happened
\set ON_ERROR_STOP 1
set client_min_messages = warning;

create table hx_call (
  id          serial primary key,
  fn          regprocedure not null,   -- the function or procedure called
  role        text not null,           -- 'affiliate_operator', ..., or 'superuser'
  claims      text,                    -- SQL expression: request.jwt.claims (NULL: not set)
  headers     text,                    -- SQL expression: request.headers (NULL: not set)
  arg_name    text,                    -- the argument varied (NULL: baseline, all-NULL, claims, headers)
  vclass      text not null,           -- what was varied: 'baseline', 'all_null', 'bigint_max', 'claims:...', ...
  val_expr    text,                    -- the hostile value's SQL expression (NULL: none)
  sql         text not null,           -- the statement run (a reproduction as it stands, under role/claims)
  scope       text,                    -- the program the call addresses, as text (also a hostile
                                       -- one, e.g. '-1'); NULL: not scoped (create_program, jobs)
  expect      text                     -- 'refuse': accepting it would be a bug (see matrix.sql)
);

create table hx_result (
  id             int primary key references hx_call,
  outcome        text not null,   -- accepted | refused | undocumented | internal
  sqlstate       text,            -- of the refusal (NULL when accepted)
  message        text,
  arg_sqlstate   text,            -- what evaluating the hostile value alone raises (NULL: nothing)
  snap_changed   boolean,         -- the fingerprint after the call differs from before it
  leaked_program text,            -- accepted: programs other than the addressed one that changed
  verify_rows    text,            -- accepted: affiliate.verify() rows and hx_stored offences seen inside
                                  -- the call's subtransaction
  probe          text,            -- accepted: what hx_probe found broken in the programs the call changed
  result         text,            -- accepted: the first 300 characters of the result
  ms             int              -- how long the call and its checks took
);

create table hx_doc_code (sqlstate text primary key);

-- the fingerprint every call must leave behind: the fixture's, taken once
-- (hx_start) and then compared after every call
create table hx_state (snap jsonb not null);

-- hx_snap() — {program id: a hash of all its rows in every table of schema
-- affiliate that has a program_id column, of its program row, its settings
-- (as program_settings() reports them, through the settings cache) and its
-- account balances}; plus "ledger:<id>" = "postings:sum:sum|abs|" so a report
-- shows what moved.  A row's hash is hashtextextended of its text, summed
-- per table and program (one scan per table).  The body is generated from
-- the catalog, so a table added later is covered without editing this file.
do $$
declare
  parts text := '';
  t record;
begin
  for t in
    select c.relname
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'affiliate' and c.relkind = 'r'
       and exists (select 1 from pg_attribute a
                    where a.attrelid = c.oid and a.attname = 'program_id' and not a.attisdropped)
     order by c.relname
  loop
    parts := parts || format(
      ' union all select x.program_id, %L, count(*) || %L || sum(hashtextextended(x::text, 0)) from affiliate.%I x group by 1',
      t.relname, ':', t.relname);
  end loop;
  execute format($f$
    create function hx_snap() returns jsonb language sql volatile as $b$
      with h(pid, what, v) as (
        select p.id, 'program', p::text || affiliate.program_settings(p.id)::text from affiliate.program p
        union all
        select b.program_id, 'balances', count(*) || ':' || sum(hashtextextended(b::text, 0))
          from affiliate.account_balances b group by 1
        %s)
      select coalesce(jsonb_object_agg(k, v), '{}')
        from (select pid::text as k, md5(string_agg(what || '=' || v, '|' order by what)) as v
                from h group by pid
              union all
              select 'ledger:' || po.program_id,
                     count(*) || ':' || sum(po.amount) || ':' || sum(abs(po.amount))
                from affiliate.posting po group by po.program_id) s
    $b$ $f$, parts);
end $$;

-- hx_class(sqlstate, arg_sqlstate) — how a refusal counts: 'internal' (XX
-- class), 'refused' (a documented code, or the code PostgreSQL raises for the
-- hostile value on its own) or 'undocumented'
create function hx_class(st text, argst text) returns text language sql stable as $$
  select case when st like 'XX%' then 'internal'
              when st in (select sqlstate from hx_doc_code) or st = argst then 'refused'
              else 'undocumented' end
$$;

-- hx_probe(program) — after an accepted call changed a program: can the
-- program still be used?  Two new members, a plan, a conversion, a release,
-- the wallet, a refund.  A step refused with a documented code ends the
-- probe quietly (the call may have blocked a member, say); an undocumented or
-- internal code is returned, e.g. a setting that makes every later conversion
-- fail.
create function hx_probe(p bigint) returns text language plpgsql as $$
declare
  a bigint; b bigint; st text; msg text; step text;
begin
  step := 'add_member';
  a := affiliate.add_member(p, 'hx-probe-a');
  b := affiliate.add_member(p, 'hx-probe-b', (select m.code::text from affiliate.member m where m.program_id = p and m.id = a));
  step := 'set_plan';   -- a new program has none; an existing one keeps its own (the call may have set it)
  if not exists (select 1 from affiliate.plan x where x.program_id = p) then
    perform affiliate.set_plan(p, 'hx probe plan', '{1000}');
  end if;
  step := 'record_conversion';
  perform affiliate.record_conversion(p, 'hx-probe-ord', b, 10000, 1000);
  perform affiliate.record_conversion(p, 'hx-probe-ord-2', b, 10000, 1000);   -- a returning buyer
  step := 'release_due';
  perform affiliate.release_due(now() + interval '1000 days', 100000, p);
  step := 'balance';
  perform count(*) from affiliate.balance(p, a);
  perform count(*) from affiliate.wallet_transactions(p, a);
  step := 'refund_conversion';
  perform count(*) from affiliate.refund_conversion(p, 'hx-probe-ord');
  return null;
exception when others then
  get stacked diagnostics st = returned_sqlstate, msg = message_text;
  if hx_class(st, null) = 'refused' then
    return null;
  end if;
  return format('program %s, %s: %s %s', p, step, st, left(msg, 200));
end $$;

-- values the tables do not bound themselves but the docs do, checked after
-- every accepted call that may write: (name, query returning offending rows)
create table hx_stored (name text primary key, query text not null);
insert into hx_stored values
  ('audit actor at most 200 characters (docs/postgrest.md: sub)',
   'select format(''audit_log %s: actor of %s characters'', id, length(actor)) from affiliate.audit_log where length(actor) > 200');

-- hx_one(id) — run call id and record the outcome in hx_result.
--
-- The call runs in a subtransaction under the call's role and claims; if it
-- returns, the fingerprint, affiliate.verify(), the stored-value checks and
-- hx_probe are taken inside that subtransaction and a private SQLSTATE
-- (HX999) rolls it back, so an accepted call changes nothing either and every
-- call sees the same fixture.  The fingerprint is also compared with the one
-- before the call (a refused call, or an accepted one once rolled back, must
-- leave it as it was).
create function hx_one(p_id int) returns void language plpgsql as $$
declare
  c hx_call;
  before jsonb; inside jsonb; after jsonb;
  st text; msg text; argst text; setting text;
  res text; vrows text; leaked text; probe text; bad text; k text; chk hx_stored;
  accepted boolean := false;
  outcome text;
  t0 timestamptz := clock_timestamp();
begin
  select * into strict c from hx_call where id = p_id;
  -- what PostgreSQL itself says about the hostile value on its own
  if c.val_expr is not null then
    begin
      execute format('select (%s) is null', c.val_expr);
    exception when others then
      get stacked diagnostics argst = returned_sqlstate;
    end;
  end if;
  select snap into strict before from hx_state;
  begin
    if c.claims is not null then
      execute 'select ' || c.claims into setting;
      perform set_config('request.jwt.claims', setting, true);
    end if;
    if c.headers is not null then
      execute 'select ' || c.headers into setting;
      perform set_config('request.headers', setting, true);
    end if;
    if c.role <> 'superuser' then
      perform set_config('role', c.role, true);
    end if;
    execute c.sql into res;
    perform set_config('role', 'none', true);
    -- accepted: look inside before rolling back
    accepted := true;
    inside := hx_snap();
    if inside is distinct from before then
      -- another program's rows changed (or it vanished) under a call scoped
      -- to one program; a program the call created is not in "before"
      if c.scope is not null then
        select string_agg(b.k, ',' order by b.k) into leaked
          from jsonb_each(before) b(k, v)
         where b.k not like 'ledger:%' and b.k <> c.scope and inside -> b.k is distinct from b.v;
      end if;
      select string_agg(v.invariant || ': ' || v.detail, '; ') into vrows from affiliate.verify() v;
      for chk in select * from hx_stored loop
        execute format('select string_agg(x, %L) from (%s) s(x)', '; ', chk.query) into bad;
        if bad is not null then
          vrows := concat_ws('; ', vrows, chk.name || ': ' || bad);
        end if;
      end loop;
      -- every program the call changed or created must still work (probed
      -- as the superuser, without the call's claims and headers)
      perform set_config('request.jwt.claims', '', true);
      perform set_config('request.headers', '', true);
      for k in
        select i.k from jsonb_each(inside) i(k, v)
         where i.k not like 'ledger:%' and before -> i.k is distinct from i.v order by 1
      loop
        probe := concat_ws('; ', probe, hx_probe(k::bigint));
      end loop;
      probe := nullif(probe, '');
    end if;
    raise exception using errcode = 'HX999', message = 'hx: roll back the accepted call';
  exception when others then
    get stacked diagnostics st = returned_sqlstate, msg = message_text;
  end;
  after := hx_snap();
  if after is distinct from before then
    update hx_state set snap = after;   -- report this call once, not every call after it
  end if;
  if accepted and st = 'HX999' then
    st := null; msg := null;
    outcome := 'accepted';
  else
    outcome := hx_class(st, argst);
  end if;
  -- the HTTP API reports P0002 and 55000 as PT404 and PT409 (docs/postgrest.md#errors)
  if outcome = 'refused' and st in ('P0002', '55000') and st is distinct from argst
     and (select n.nspname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
           where p.oid = c.fn) = 'affiliate_api' then
    outcome := 'undocumented';
  end if;
  insert into hx_result values (p_id, outcome, st, left(msg, 500), argst,
                                after is distinct from before, leaked, vrows, probe, left(res, 300),
                                (extract(epoch from clock_timestamp() - t0) * 1000)::int);
end $$;

-- hx_repro(id) — call id as a psql script (against the fixture), for reports
create function hx_repro(p_id int) returns text language sql stable as $$
  select concat_ws(E'\n', 'begin;',
           case when c.role <> 'superuser' then format('set local role %I;', c.role) end,
           case when c.claims is not null
                then format('select set_config(%L, %s, true);', 'request.jwt.claims', left(c.claims, 400)) end,
           case when c.headers is not null
                then format('select set_config(%L, %s, true);', 'request.headers', left(c.headers, 400)) end,
           left(c.sql, 1200) || ';', 'rollback;')
    from hx_call c where c.id = p_id
$$;
