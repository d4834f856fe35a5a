-- test/hostile/fixture.sql — the world every hostile call runs against.
--
-- Two programs, A ("hx A", INR) and B ("hx B", USD), each with a small
-- referral tree, a plan, released and pending commissions and withdrawals in
-- several states.  The ids are kept in hx_fix(name, val) for the matrix
-- (test/hostile/matrix.sql): every baseline argument and every "id of
-- another program" comes from there, so no id is hard-coded.
--
-- Every hostile call runs in a subtransaction that is rolled back (accepted
-- or not), so this world is the same for every call.
\set ON_ERROR_STOP 1
set client_min_messages = warning;

create table hx_fix (name text primary key, val text not null);

do $$
declare
  pa bigint; pb bigint; m bigint; w bigint; code text;
  x text;
begin
  for x in select unnest(array['a', 'b']) loop
    if x = 'a' then
      pa := affiliate.create_program('hx A', 'INR',
              '{"hold_period": "1 day", "min_withdrawal": 100, "rounding_unit": 1}');
    else
      pb := affiliate.create_program('hx B', 'USD',
              '{"hold_period": "1 day", "min_withdrawal": 100, "rounding_unit": 1}');
    end if;
  end loop;
  insert into hx_fix values ('pa', pa), ('pb', pb);

  -- members 1..5 of each program: 1 <- 2 <- 3 <- 4, 1 <- 5 (5 is blocked later)
  for x in select unnest(array['a', 'b']) loop
    declare p bigint := case x when 'a' then pa else pb end;
    begin
      m := affiliate.add_member(p, 'hx-' || x || '-1');
      insert into hx_fix values (x || '_m1', m);
      for i in 2 .. 5 loop
        select c.code::text into code from affiliate.member c
         where c.program_id = p and c.external_id = 'hx-' || x || '-' || case when i = 5 then 1 else i - 1 end;
        m := affiliate.add_member(p, 'hx-' || x || '-' || i, code);
        insert into hx_fix values (x || '_m' || i, m);
      end loop;
      insert into hx_fix select x || '_code1', c.code::text from affiliate.member c
        where c.program_id = p and c.external_id = 'hx-' || x || '-1';
      -- a fraud flag (0.6.0): hx-<x>-7 joins under hx-<x>-6 on its device,
      -- a self-referral flag on member 6 (no other call of the matrix uses
      -- members 6 and 7)
      m := affiliate.add_member(p, 'hx-' || x || '-6', null, 'hx-device-' || x);
      perform affiliate.add_member(p, 'hx-' || x || '-7',
                (select c.code::text from affiliate.member c where c.program_id = p and c.id = m), 'hx-device-' || x);
      insert into hx_fix select x || '_flag', f.id from affiliate.fraud_flag f
        where f.program_id = p and f.member_id = m and f.rule = 'self_referral';
      perform affiliate.set_plan(p, 'hx plan ' || x, '{3000,1000,500}', 'profit');
      -- loyalty points (0.6.0): a bill rule, member 2 has a bill (hx-<x>-bill-1)
      -- and an award, so deductions and refunds have points to take
      perform affiliate.set_points_rule(p, 'bill', 1, 100);
      perform affiliate.record_bill(p, 'hx-' || x || '-bill-1',
                (select val::bigint from hx_fix where name = x || '_m2'), 100000, now() - interval '1 day');
      perform affiliate.award_points(p, (select val::bigint from hx_fix where name = x || '_m2'), 500, 'hx fixture');
      -- tiers (0.6.0): one tier, 'hx tier' (rank 1), which member 2 reaches
      -- with its 500 awarded points at the next review
      perform affiliate.set_tier(p, 'hx tier', 1, 100, 'points', '12 months', 12500);
      -- a reward (0.6.0) member 2 can redeem
      insert into hx_fix values (x || '_reward', affiliate.add_reward(p, 'hx reward ' || x, 10, 1000, null, null, 5));
      -- a promo campaign (0.6.0), active: code HX-<X>-PROMO, 10 % off, member 1's coupon
      insert into hx_fix values (x || '_campaign', affiliate.create_campaign(p, 'hx campaign ' || x, 'percent_off', 1000,
                null, null, 'HX-' || upper(x) || '-PROMO', (select val::bigint from hx_fix where name = x || '_m1'), 1000, 5));
      insert into hx_fix values (x || '_promo', 'HX-' || upper(x) || '-PROMO');
      perform affiliate.set_campaign_status(p, (select val::bigint from hx_fix where name = x || '_campaign'), 'scheduled');
      perform affiliate.set_campaign_status(p, (select val::bigint from hx_fix where name = x || '_campaign'), 'active');
      -- conversions: ord-1..6 bought by member 4 (pays 2, 3, 1 up the tree)
      for i in 1 .. 6 loop
        perform affiliate.record_conversion(p, 'hx-' || x || '-ord-' || i,
                  (select val::bigint from hx_fix where name = x || '_m4'), 100000, 20000);
      end loop;
    end;
  end loop;
  -- release everything recorded so far: members have available balances
  perform affiliate.release_due(now() + interval '2 days');
  -- more conversions still pending (refundable, not yet released)
  for x in select unnest(array['a', 'b']) loop
    declare p bigint := case x when 'a' then pa else pb end;
    begin
      for i in 7 .. 8 loop
        perform affiliate.record_conversion(p, 'hx-' || x || '-ord-' || i,
                  (select val::bigint from hx_fix where name = x || '_m4'), 50000, 10000);
      end loop;
      -- withdrawals of member 3 (the direct sponsor of the buyer, it earned most):
      -- w_req requested, w_app approved, w_paid paid; member 2's w_req2 requested
      w := affiliate.request_withdrawal(p, (select val::bigint from hx_fix where name = x || '_m3'), 1000, 'upi', 'hx-' || x || '@bank');
      insert into hx_fix values (x || '_w_req', w);
      w := affiliate.request_withdrawal(p, (select val::bigint from hx_fix where name = x || '_m3'), 1000, 'upi', 'hx-' || x || '@bank');
      perform affiliate.approve_withdrawal(p, w);
      insert into hx_fix values (x || '_w_app', w);
      w := affiliate.request_withdrawal(p, (select val::bigint from hx_fix where name = x || '_m3'), 1000, 'upi', 'hx-' || x || '@bank');
      perform affiliate.approve_withdrawal(p, w);
      perform affiliate.complete_withdrawal(p, w, 'hx-' || x || '-utr-1');
      insert into hx_fix values (x || '_w_paid', w);
      w := affiliate.request_withdrawal(p, (select val::bigint from hx_fix where name = x || '_m2'), 500, 'bank', '000123456789');
      insert into hx_fix values (x || '_w_req2', w);
      perform affiliate.set_member_status(p, (select val::bigint from hx_fix where name = x || '_m5'), 'blocked', 'hx fixture');
      insert into hx_fix
        select x || '_acct_avail', a.id from affiliate.account a
         where a.program_id = p and a.member_id = (select val::bigint from hx_fix where name = x || '_m3')
           and a.kind = 'available';
      insert into hx_fix
        select x || '_acct_sys', a.id from affiliate.account a
         where a.program_id = p and a.member_id is null order by a.id limit 1;
    end;
  end loop;
  -- notifications (0.6.0): templates for referral_joined (in_app, sms); a
  -- member hx-<x>-8 under member 3 puts a message in member 3's inbox and an
  -- sms in the outbox, which is claimed; member 3 has a child (members 6 and
  -- 7 are the fraud flag's)
  for x in select unnest(array['a', 'b']) loop
    declare p bigint := case x when 'a' then pa else pb end;
    begin
      perform affiliate.set_template(p, 'referral_joined', 'in_app', 'New referral', '{{referral_name}} joined');
      perform affiliate.set_template(p, 'referral_joined', 'sms', null, '{{referral_name}} joined');
      perform affiliate.add_member(p, 'hx-' || x || '-8',
                (select c.code::text from affiliate.member c where c.program_id = p and c.external_id = 'hx-' || x || '-3'));
      perform affiliate.claim_outbox('sms', 10, '5 minutes', p);
      insert into hx_fix select x || '_msg', o.id from affiliate.outbox o where o.program_id = p and o.channel = 'sms';
      insert into hx_fix select x || '_inbox', o.id from affiliate.outbox o where o.program_id = p and o.channel = 'in_app';
      insert into hx_fix values (x || '_child', affiliate.add_member_child(p, (select val::bigint from hx_fix where name = x || '_m3'),
                                                                         'hx child', '2015-05-05'));
    end;
  end loop;
  perform affiliate.fold_balances(null, 100000);
  -- one more than any member of A has available
  insert into hx_fix select 'a_avail_max_plus_1', max(b.available) + 1
    from affiliate.member m, affiliate.balance(pa, m.id) b where m.program_id = pa;
end $$;

-- the fixture itself must be sound
do $$
declare n int;
begin
  select count(*) into n from affiliate.verify();
  if n > 0 then
    raise exception 'hostile fixture: verify() is not empty: %',
      (select string_agg(invariant || ': ' || detail, '; ') from affiliate.verify());
  end if;
  select count(*) into n from hx_fix;
  if n <> 3 + 2 * 19 then
    raise exception 'hostile fixture: % ids instead of %', n, 3 + 2 * 19;
  end if;
end $$;
