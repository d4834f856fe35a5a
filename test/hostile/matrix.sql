-- test/hostile/matrix.sql — which calls the hostile input driver tries.
--
-- The functions come from pg_proc (every function and procedure of schemas
-- affiliate and affiliate_api), so one added later is fuzzed without editing
-- this file; hx_generate() prints what it skips and why.  For each function
-- and each role that may EXECUTE it:
--
--   baseline   every argument valid (hx_base, else the declared default,
--              else a value by type) — the call the others vary;
--   all_null   every argument NULL;
--   one hostile value at a time for each argument: by type (hx_tval) and,
--              for arguments with a known meaning, by name (hx_nval: ids of
--              the other program, unknown ids, codes, refs, settings, ...);
--   claims     for the functions a JWT reaches or that read the claims, the
--              baseline under hostile request.jwt.claims (hx_claims);
--   headers    for the functions that read request.headers, the baseline
--              under hostile headers (hx_headers);
--   superuser  the baseline and the all-NULL call once more as superuser.
--
-- Values are SQL expressions; {name} is replaced by the fixture id hx_fix
-- has under that name (test/hostile/fixture.sql), so hx_call.sql is a
-- literal reproduction.  expect = 'refuse' marks a value the function must
-- refuse: accepting it is a bug (hostile_input.sh fails on it).
\set ON_ERROR_STOP 1
set client_min_messages = warning;

-- ---------------------------------------------------------------------------
-- hostile values by argument type (format_type of the argument)
-- ---------------------------------------------------------------------------
create table hx_tval (typ text, vclass text, expr text);
insert into hx_tval (typ, vclass, expr) values
  ('bigint', 'null', 'null'),
  ('bigint', 'zero', '0'),
  ('bigint', 'minus_one', '-1'),
  ('bigint', 'bigint_min', '-9223372036854775808'),
  ('bigint', 'bigint_max', '9223372036854775807'),
  ('bigint', 'bigint_max_minus_1', '9223372036854775806'),
  -- past the limits: the cast of the text itself must fail with 22003
  ('bigint', 'past_bigint_max', '''9223372036854775808''::text::bigint'),
  ('bigint', 'past_bigint_min', '''-9223372036854775809''::text::bigint'),
  ('bigint', 'numeric_huge', '''1e400''::numeric::bigint'),
  ('bigint', 'not_a_number', '''12; drop table affiliate.posting''::text::bigint'),
  ('integer', 'null', 'null'),
  ('integer', 'zero', '0'),
  ('integer', 'minus_one', '-1'),
  ('integer', 'int_min', '-2147483648'),
  ('integer', 'int_max', '2147483647'),
  ('integer', 'past_int_max', '''2147483648''::text::integer'),
  ('integer', 'million_and_one', '1000001'),
  ('text', 'null', 'null'),
  ('text', 'empty', ''''''),
  ('text', 'blank', ''' '''),
  ('text', 'whitespace', 'E''\t\n\r '''),
  ('text', 'len_201', 'repeat(''x'', 201)'),
  ('text', 'len_2001', 'repeat(''x'', 2001)'),
  ('text', 'multibyte_202_bytes', 'repeat(''é'', 101)'),
  ('text', 'one_mb', 'repeat(''x'', 1048576)'),
  ('text', 'one_mb_multibyte', 'repeat(''€'', 349526)'),
  ('text', 'sql_injection_drop', $v$'x''; drop table affiliate.posting; --'$v$),
  ('text', 'sql_injection_or', $v$''' or ''1''=''1'$v$),
  ('text', 'sql_injection_dollar', $v$'$$; select pg_sleep(5); $$'$v$),
  ('text', 'backslashes', $v$E'\\x00\\\\''\\'$v$),
  ('text', 'template_mustache', $v$'{{7*7}} {{config}}'$v$),
  ('text', 'template_dollar', $v$'${jndi:ldap://example.invalid/a} ${7*7}'$v$),
  ('text', 'format_specifiers', $v$'%s%s%s%n%x%p %1$s'$v$),
  ('text', 'html', $v$'<script>alert(1)</script>'$v$),
  ('text', 'control_chars', $v$E'\x01\x1b[31m\x7f'$v$),
  ('text', 'unicode_odd', $v$E'\u202e\u200b\ufeffa\u0301😀'$v$),
  -- invalid UTF-8 / NUL: PostgreSQL refuses to build such a text (22021, 54000, 22P05)
  ('text', 'invalid_utf8_ff', $v$convert_from('\xff'::bytea, 'UTF8')$v$),
  ('text', 'invalid_utf8_overlong', $v$convert_from('\xc0\xaf'::bytea, 'UTF8')$v$),
  ('text', 'invalid_utf8_surrogate', $v$convert_from('\xeda080'::bytea, 'UTF8')$v$),
  ('text', 'nul_chr', 'chr(0)'),
  ('text', 'nul_byte', $v$convert_from('a\x00b'::bytea, 'UTF8')$v$),
  ('jsonb', 'null', 'null'),
  ('jsonb', 'json_null', '''null''::jsonb'),
  ('jsonb', 'empty_object', '''{}''::jsonb'),
  ('jsonb', 'empty_array', '''[]''::jsonb'),
  ('jsonb', 'scalar_string', '''"x"''::jsonb'),
  ('jsonb', 'scalar_number', '''-1''::jsonb'),
  ('jsonb', 'number_1e400', '''{"x": 1e400}''::jsonb'),
  ('jsonb', 'deep_1000', '(repeat(''{"a":'', 1000) || ''1'' || repeat(''}'', 1000))::jsonb'),
  ('jsonb', 'deep_100000', '(repeat(''['', 100000) || repeat('']'', 100000))::jsonb'),
  ('jsonb', 'wide_10000_keys', '(select jsonb_object_agg(''k'' || i, i) from generate_series(1, 10000) i)'),
  ('jsonb', 'one_mb_value', 'jsonb_build_object(''k'', repeat(''x'', 1048576))'),
  ('jsonb', 'injection_keys', $v$jsonb_build_object('''; drop table affiliate.posting; --', '{{7*7}}', '${x}', '%s%n')$v$),
  ('jsonb', 'nul_escape', $v$'{"a": "\u0000"}'::text::jsonb$v$),
  ('interval', 'null', 'null'),
  ('interval', 'zero', '''0''::interval'),
  ('interval', 'negative', '''-1 day''::interval'),
  ('interval', 'huge', '''178000000 years''::interval'),
  ('interval', 'huge_negative', '''-178000000 years''::interval'),
  ('interval', 'microsecond', '''1 microsecond''::interval'),
  ('interval', 'past_max', '''999999999999 years''::text::interval'),
  ('timestamp with time zone', 'null', 'null'),
  ('timestamp with time zone', 'infinity', '''infinity''::timestamptz'),
  ('timestamp with time zone', 'minus_infinity', '''-infinity''::timestamptz'),
  ('timestamp with time zone', 'min', '''4714-11-24 00:00:00+00 BC''::timestamptz'),
  ('timestamp with time zone', 'max', '''294276-12-31 23:59:59+00''::timestamptz'),
  ('timestamp with time zone', 'epoch', '''epoch''::timestamptz'),
  ('timestamp with time zone', 'past_max', '''294277-01-01''::text::timestamptz'),
  ('inet', 'null', 'null'),
  ('inet', 'v4_zero', '''0.0.0.0''::inet'),
  ('inet', 'v6_zero', '''::''::inet'),
  ('inet', 'v4_any_net', '''0.0.0.0/0''::inet'),
  ('inet', 'v6_max', '''ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128''::inet'),
  ('inet', 'v4_mapped', '''::ffff:127.0.0.1''::inet'),
  ('inet', 'not_an_ip', '''1.2.3.4; drop''::text::inet'),
  ('date', 'null', 'null'),
  ('date', 'infinity', '''infinity''::date'),
  ('date', 'minus_infinity', '''-infinity''::date'),
  ('date', 'min', '''4714-11-24 BC''::date'),
  ('date', 'max', '''5874897-12-31''::date'),
  ('date', 'future', 'current_date + 1'),
  ('date', 'past_max', '''5874898-01-01''::text::date'),
  ('boolean', 'null', 'null'),
  ('boolean', 'true', 'true'),
  ('boolean', 'false', 'false'),
  ('integer[]', 'null', 'null'),
  ('integer[]', 'empty', '''{}''::integer[]'),
  ('integer[]', 'null_element', '''{NULL}''::integer[]'),
  ('integer[]', 'negative', '''{-1}''::integer[]'),
  ('integer[]', 'zero', '''{0}''::integer[]'),
  ('integer[]', 'over_100_pct', '''{10001}''::integer[]'),
  ('integer[]', 'sum_over_100_pct', '''{6000,5000}''::integer[]'),
  ('integer[]', 'int_max_twice', '''{2147483647,2147483647}''::integer[]'),
  ('integer[]', 'int_min', '''{-2147483648}''::integer[]'),
  ('integer[]', 'two_dimensional', '''{{3000},{1000}}''::integer[]'),
  ('integer[]', 'odd_lower_bound', '''[0:1]={3000,1000}''::integer[]'),
  ('integer[]', 'len_1001', 'array_fill(1, array[1001])'),
  ('integer[]', 'len_100000', 'array_fill(0, array[100000])'),
  ('bigint[]', 'null', 'null'),
  ('bigint[]', 'empty', '''{}''::bigint[]'),
  ('bigint[]', 'null_element', '''{NULL}''::bigint[]'),
  ('bigint[]', 'negative', '''{-1}''::bigint[]'),
  ('bigint[]', 'bigint_max', '''{9223372036854775807}''::bigint[]'),
  ('bigint[]', 'bigint_min', '''{-9223372036854775808}''::bigint[]'),
  ('bigint[]', 'two_dimensional', '''{{1},{2}}''::bigint[]'),
  ('bigint[]', 'odd_lower_bound', '''[5:6]={1,2}''::bigint[]'),
  ('bigint[]', 'len_1001', 'array_fill(1::bigint, array[1001])'),
  ('bigint[]', 'past_bigint_max', '''{9223372036854775808}''::text::bigint[]'),
  -- refcode arguments: hostile text through refcode_in (the type's input function)
  ('affiliate.refcode', 'null', 'null'),
  ('affiliate.refcode', 'empty', '''''::text::affiliate.refcode'),
  ('affiliate.refcode', 'thirteen_chars', '''ZZZZZZZZZZZZZ''::text::affiliate.refcode'),
  ('affiliate.refcode', 'twelve_z', '''ZZZZZZZZZZZZ''::text::affiliate.refcode'),
  ('affiliate.refcode', 'lower_case', 'lower(''{a_code1}'')::affiliate.refcode'),
  ('affiliate.refcode', 'spaces_hyphens', 'regexp_replace(''{a_code1}'', ''(...)'', '' \1-'', ''g'')::affiliate.refcode'),
  ('affiliate.refcode', 'one_mb', 'repeat(''Z'', 1048576)::affiliate.refcode'),
  ('affiliate.refcode', 'sql_injection', $v$'x''; drop table affiliate.member; --'::text::affiliate.refcode$v$),
  ('affiliate.refcode', 'invalid_utf8', $v$convert_from('\xff'::bytea, 'UTF8')::affiliate.refcode$v$),
  ('affiliate.refcode', 'unicode_digits', $v$'٣٤٥٦٧'::text::affiliate.refcode$v$),
  ('affiliate.refcode', 'other_program_code', '''{b_code1}''::affiliate.refcode'),
  ('affiliate.conversion_input[]', 'null', 'null'),
  ('affiliate.conversion_input[]', 'empty', '''{}''::affiliate.conversion_input[]'),
  ('affiliate.conversion_input[]', 'null_element', 'array[null::affiliate.conversion_input]'),
  ('affiliate.conversion_input[]', 'all_null_fields',
     'array[row(null, null, null, null, null, null, null)::affiliate.conversion_input]'),
  ('affiliate.conversion_input[]', 'negative_amount',
     'array[row(''hx-batch-1'', {a_m4}, -1, 0, null, null, null)::affiliate.conversion_input]'),
  ('affiliate.conversion_input[]', 'bigint_max_amount',
     'array[row(''hx-batch-1'', {a_m4}, 9223372036854775807, 0, null, null, null)::affiliate.conversion_input]'),
  ('affiliate.conversion_input[]', 'cost_over_amount',
     'array[row(''hx-batch-1'', {a_m4}, 100, 101, null, null, null)::affiliate.conversion_input]'),
  ('affiliate.conversion_input[]', 'other_program_buyer',
     'array[row(''hx-batch-1'', {b_m4}, 10000, 0, null, null, null)::affiliate.conversion_input]'),
  ('affiliate.conversion_input[]', 'other_program_seller',
     'array[row(''hx-batch-1'', {a_m4}, 10000, 0, null, null, {b_m2})::affiliate.conversion_input]'),
  ('affiliate.conversion_input[]', 'duplicate_ref_other_inputs',
     'array[row(''hx-batch-1'', {a_m4}, 10000, 0, null, null, null),
            row(''hx-batch-1'', {a_m4}, 20000, 0, null, null, null)]::affiliate.conversion_input[]'),
  ('affiliate.conversion_input[]', 'one_mb_ref',
     'array[row(repeat(''x'', 1048576), {a_m4}, 10000, 0, null, null, null)::affiliate.conversion_input]'),
  ('affiliate.conversion_input[]', 'infinite_time',
     'array[row(''hx-batch-1'', {a_m4}, 10000, 0, ''infinity'', null, null)::affiliate.conversion_input]'),
  ('affiliate.conversion_input[]', 'len_100001',
     '(select array_agg(row(''hx-batch-'' || i, {a_m4}, 100, 0, null, null, null)::affiliate.conversion_input)
         from generate_series(1, 100001) i)');

-- ---------------------------------------------------------------------------
-- hostile values by argument name (and function, a regular expression on
-- "schema.name"), on top of those by type
-- ---------------------------------------------------------------------------
create table hx_nval (arg_re text, fn_re text, vclass text, expr text);
insert into hx_nval (arg_re, fn_re, vclass, expr) values
  ('^program_id$', '', 'unknown_program', '999999'),
  ('^program_id$', '', 'other_program', '{pb}'),
  ('^reward_id$', '', 'other_program_reward', '{b_reward}'),
  ('^reward_id$', '', 'unknown_reward', '999999'),
  ('^campaign_id$', '', 'other_program_campaign', '{b_campaign}'),
  ('^campaign_id$', '', 'unknown_campaign', '999999'),
  ('^(code|promo_code)$', '\.(redeem_promo|promo_offer|record_conversion)$', 'other_program_promo', '''{b_promo}'''),
  ('^(code|promo_code)$', '\.(redeem_promo|promo_offer|record_conversion)$', 'unknown_promo', '''HX-NO-SUCH'''),
  ('^(member_id|buyer_id|seller_id|new_sponsor_id)$', '', 'other_program_member', '{b_m2}'),
  ('^(member_id|buyer_id|seller_id|new_sponsor_id)$', '', 'unknown_member', '999999'),
  ('^(member_id|buyer_id|seller_id|new_sponsor_id)$', '', 'blocked_member', '{a_m5}'),
  ('^new_sponsor_id$', '', 'descendant_cycle', '{a_m3}'),
  ('^new_sponsor_id$', '', 'self_cycle', '{a_m2}'),
  ('^flag_id$', '', 'other_program_flag', '{b_flag}'),
  ('^flag_id$', '', 'unknown_flag', '999999'),
  ('^withdrawal_id$', '', 'other_program_withdrawal', '{b_w_req}'),
  ('^withdrawal_id$', '', 'unknown_withdrawal', '999999'),
  ('^withdrawal_id$', '', 'other_members_withdrawal', '{a_w_req2}'),
  ('^withdrawal_id$', '', 'paid_withdrawal', '{a_w_paid}'),
  ('^account_id$', '', 'other_program_account', '{b_acct_avail}'),
  ('^account_id$', '', 'unknown_account', '999999'),
  ('^account_id$', '', 'system_account', '{a_acct_sys}'),
  ('^(external_ref|refund_ref)$', '', 'other_program_ref', '''hx-b-ord-1'''),
  ('^(external_ref|refund_ref)$', '', 'existing_ref', '''hx-a-ord-1'''),
  ('^(order_ref|provider_ref|idempotency_key)$', '', 'used_provider_ref', '''hx-a-utr-1'''),
  ('^(order_ref|provider_ref|idempotency_key)$', '', 'other_program_provider_ref', '''hx-b-utr-1'''),
  ('^(code|referral_code)$', '', 'other_program_code', '''{b_code1}'''),
  ('^(code|referral_code)$', '', 'lower_case_code', 'lower(''{a_code1}'')'),
  ('^(code|referral_code)$', '', 'mistyped_code', 'overlay(''{a_code1}'' placing ''2'' from 9 for 1)'),
  ('^(code|referral_code)$', '', 'padded_code', ''' {a_code1} '''),
  ('^external_id$', '', 'existing_member', '''hx-a-1'''),
  ('^external_id$', '', 'other_program_member', '''hx-b-9'''),
  ('^(amount|cost)$', '', 'ten_pow_15', '1000000000000000'),
  ('^(amount|cost)$', '', 'past_ten_pow_15', '1000000000000001'),
  ('^(amount|cost)$', '', 'minus_past_ten_pow_15', '-1000000000000001'),
  ('^amount$', '', 'two', '2'),
  ('^amount$', '', 'more_than_available', '{a_avail_max_plus_1}'),
  ('^(digits)$', '', 'three', '3'),
  ('^(digits)$', '', 'thirteen', '13'),
  ('^(depth)$', '', 'million', '1000000'),
  ('^(status)$', '', 'upper_case', '''BLOCKED'''),
  ('^(status)$', '', 'paid', '''paid'''),
  ('^(method)$', '', 'upper_case', '''UPI'''),
  ('^(method)$', '', 'len_33', 'repeat(''a'', 33)'),
  ('^(destination)$', '', 'non_printable', 'E''a@b\x7f'''),
  ('^(destination)$', '', 'len_201_after_trim', 'repeat(''a'', 201) || '' '''),
  ('^(currency)$', '', 'lower_case', '''inr'''),
  ('^(currency)$', '', 'four_letters', '''INRR'''),
  ('^(currency)$', '', 'digits', '''123'''),
  ('^(kind)$', '', 'upper_case', '''Available'''),
  ('^(kind)$', '', 'len_64', 'repeat(''a'', 64)'),
  ('^(asset)$', '', 'other_asset', '''POINTS'''),
  ('^(asset)$', '', 'lower_case', '''inr'''),
  ('^(rounding)$', '', 'upper_case', '''HALF_UP'''),
  ('^(rates_bp|levels)$', '', 'full', '''{10000}''::integer[]'),
  -- two elements, one per level of the baseline plan
  ('^(flat|caps)$', '', 'negative_pair', '''{-1,0}''::bigint[]'),
  ('^(flat|caps)$', '', 'null_pair', '''{NULL,NULL}''::bigint[]'),
  ('^(flat|caps)$', '', 'past_ten_pow_15_pair', '''{1000000000000001,0}''::bigint[]'),
  ('^(flat|caps)$', '', 'bigint_max_pair', '''{9223372036854775807,9223372036854775807}''::bigint[]'),
  ('^(release_schedule|fold_schedule)$', '', 'bad_cron', '''* * * * * * *'''),
  ('^settings$', '', 'negative_hold', '''{"hold_period": "-1 day"}''::jsonb'),
  ('^settings$', '', 'huge_hold', '''{"hold_period": "178000000 years"}''::jsonb'),
  ('^settings$', '', 'hold_number', '''{"hold_period": 86400}''::jsonb'),
  ('^settings$', '', 'hold_null', '''{"hold_period": null}''::jsonb'),
  ('^settings$', '', 'negative_min_withdrawal', '''{"min_withdrawal": -1}''::jsonb'),
  ('^settings$', '', 'bigint_max_min_withdrawal', '''{"min_withdrawal": 9223372036854775807}''::jsonb'),
  ('^settings$', '', 'past_bigint_min_withdrawal', '''{"min_withdrawal": 9223372036854775808}''::jsonb'),
  ('^settings$', '', 'fraction_min_withdrawal', '''{"min_withdrawal": 1.5}''::jsonb'),
  ('^settings$', '', 'string_min_withdrawal', '''{"min_withdrawal": "100"}''::jsonb'),
  ('^settings$', '', 'zero_rounding_unit', '''{"rounding_unit": 0}''::jsonb'),
  ('^settings$', '', 'bigint_max_rounding_unit', '''{"rounding_unit": 9223372036854775807}''::jsonb'),
  ('^settings$', '', 'bad_rounding', '''{"rounding": "HALF_UP"}''::jsonb'),
  ('^settings$', '', 'zero_window', '''{"attribution_window": "0"}''::jsonb'),
  ('^settings$', '', 'bad_clawback', '''{"clawback": "x"}''::jsonb'),
  ('^settings$', '', 'unknown_key', '''{"admin": true}''::jsonb'),
  ('^settings$', '', 'array_value', '''{"min_withdrawal": [1]}''::jsonb'),
  ('^settings$', '', 'zero_fraud_members', '''{"fraud_device_members": 0}''::jsonb'),
  ('^settings$', '', 'fraud_window_number', '''{"fraud_burst_window": 600}''::jsonb'),
  ('^settings$', '', 'fraud_ratio_over', '''{"fraud_low_conversion_ratio": 10001}''::jsonb'),
  ('^legs$', '', 'unbalanced', '''[{"kind": "revenue", "amount": -100}, {"member": {a_m2}, "kind": "available", "amount": 99}]''::jsonb'),
  ('^legs$', '', 'bigint_extremes', '''[{"kind": "revenue", "amount": -9223372036854775808}, {"member": {a_m2}, "kind": "available", "amount": 9223372036854775807}]''::jsonb'),
  ('^legs$', '', 'past_ten_pow_15', '''[{"kind": "revenue", "amount": -1000000000000001}, {"member": {a_m2}, "kind": "available", "amount": 1000000000000001}]''::jsonb'),
  ('^legs$', '', 'fraction', '''[{"kind": "revenue", "amount": -1.5}, {"member": {a_m2}, "kind": "available", "amount": 1.5}]''::jsonb'),
  ('^legs$', '', 'string_amount', '''[{"kind": "revenue", "amount": "-100"}, {"member": {a_m2}, "kind": "available", "amount": "100"}]''::jsonb'),
  ('^legs$', '', 'zero_amount', '''[{"kind": "revenue", "amount": 0}, {"member": {a_m2}, "kind": "available", "amount": 0}]''::jsonb'),
  ('^legs$', '', 'one_leg', '''[{"kind": "revenue", "amount": 0}]''::jsonb'),
  ('^legs$', '', 'legs_1001', '(select jsonb_agg(jsonb_build_object(''kind'', ''revenue'', ''amount'', case when i % 2 = 0 then 1 else -1 end)) from generate_series(1, 1002) i)'),
  ('^legs$', '', 'other_program_account', '''[{"account": {b_acct_sys}, "amount": -100}, {"member": {a_m2}, "kind": "available", "amount": 100}]''::jsonb'),
  ('^legs$', '', 'other_program_member', '''[{"kind": "revenue", "amount": -100}, {"member": {b_m2}, "kind": "available", "amount": 100}]''::jsonb'),
  ('^legs$', '', 'overdraft_member', '''[{"member": {a_m2}, "kind": "available", "amount": -100000000}, {"kind": "revenue", "amount": 100000000}]''::jsonb'),
  ('^legs$', '', 'injection_kind', $v$jsonb_build_array(jsonb_build_object('kind', 'revenue''; drop table affiliate.posting; --', 'amount', -100), jsonb_build_object('kind', 'revenue', 'amount', 100))$v$),
  ('^legs$', '', 'unknown_key', '''[{"kind": "revenue", "amount": -100, "x": 1}, {"kind": "revenue", "amount": 100}]''::jsonb'),
  ('^qualification$', '', 'negative_min_direct', '''{"min_direct": -1}''::jsonb'),
  ('^qualification$', '', 'past_bigint_min_direct', '''{"min_direct": 9223372036854775808}''::jsonb'),
  ('^qualification$', '', 'fraction_min_direct', '''{"min_direct": 1.5}''::jsonb'),
  ('^qualification$', '', 'unknown_qualification', '''{"min_tier": 1}''::jsonb');

-- ---------------------------------------------------------------------------
-- baseline values: by function and argument name, by argument name, by type.
-- An argument with none here and a declared default gets the default.
-- ---------------------------------------------------------------------------
create table hx_base (fn_re text, arg text, expr text);
insert into hx_base values
  -- by name, any function (fn_re '')
  ('', 'program_id', '{pa}'),
  ('', 'member_id', '{a_m2}'),
  ('', 'buyer_id', '{a_m4}'),
  ('', 'account_id', '{a_acct_avail}'),
  ('', 'withdrawal_id', '{a_w_req}'),
  ('', 'amount', '100'),
  ('', 'external_ref', '''hx-new-ord'''),
  ('', 'external_id', '''hx-new-member'''),
  ('', 'order_ref', '''hx-pay-1'''),
  ('', 'provider_ref', '''hx-utr-new'''),
  ('', 'reason', '''hx reason'''),
  ('', 'method', '''upi'''),
  ('', 'destination', '''hx@okaxis'''),
  ('', 'code', '''{a_code1}'''),
  ('', 'name', '''hx name'''),
  ('', 'currency', '''INR'''),
  ('', 'settings', '''{"min_withdrawal": 200}''::jsonb'),
  ('', 'levels', '''{3000,1000}''::integer[]'),
  ('', 'rates_bp', '''{3000,1000}''::integer[]'),
  ('', 'status', '''blocked'''),
  ('', 'kind', '''available'''),
  ('', 'at', 'now()'),
  ('', 'conversions', 'array[row(''hx-batch-1'', {a_m4}, 10000, 0, null, null, null)::affiliate.conversion_input]'),
  -- by function
  ('\.(record_conversion)$', 'amount', '10000'),
  ('\.(split)$', 'amount', '10000'),
  ('\.(refund_conversion)$', 'external_ref', '''hx-a-ord-7'''),
  ('\.(refund_bill)$', 'external_ref', '''hx-a-bill-1'''),
  ('\.(set_reward|redeem_reward)$', 'reward_id', '{a_reward}'),
  ('\.(add_reward|set_reward)$', 'cost_points', '10'),
  ('\.(redeem_promo|promo_offer)$', 'code', '''{a_promo}'''),
  ('\.(set_campaign_status|issue_promo_code)$', 'campaign_id', '{a_campaign}'),
  ('\.(campaign_stats)$', 'campaign_id', '{a_campaign}'),
  ('\.(set_campaign_status)$', 'status', '''paused'''),
  ('\.(create_campaign)$', 'offer_type', '''percent_off'''),
  ('\.(create_campaign)$', 'value', '1000'),
  ('\.(create_campaign)$', 'owner_id', '{a_m1}'),
  ('\.(issue_promo_code)$', 'source_ref', '''hx-source-1'''),
  ('\.(set_birthday_campaign)$', 'campaign_id', '{a_campaign}'),
  ('\.(set_points_rule)$', 'event', '''bill'''),
  ('\.(set_tier)$', 'basis', '''points'''),
  ('\.(set_tier)$', 'rank', '5'),
  ('\.(set_member_tier)$', 'tier', '''hx tier'''),
  ('\.(move_member)$', 'new_sponsor_id', '{a_m5}'),
  ('\.(member_tree)$', 'member_id', '{a_m1}'),
  ('\.(complete_withdrawal|fail_withdrawal)$', 'withdrawal_id', '{a_w_app}'),
  ('\.(post_journal)$', 'kind', '''adjustment'''),
  ('\.(post_journal)$', 'legs', '''[{"kind": "revenue", "amount": -100}, {"member": {a_m2}, "kind": "available", "amount": 100}]''::jsonb'),
  ('\.(withdrawals|withdrawal_queue)$', 'status', '''requested'''),
  ('\.(resolve_fraud_flag)$', 'flag_id', '{a_flag}'),
  ('\.(resolve_fraud_flag)$', 'status', '''dismissed'''),
  ('\.(unblock_member)$', 'member_id', '{a_m5}'),
  ('^affiliate\.(create_program)$', 'settings', '''{"hold_period": "1 day"}''::jsonb'),
  ('^affiliate\.(refcode_hash_extended)$', '$2', '0'),
  -- notifications (0.6.0): member 3 has an inbox message, a child and a claimed sms
  ('\.(set_template|remove_template)$', 'event', '''referral_joined'''),
  ('\.set_template$', 'channel', '''in_app'''),
  ('\.(remove_template|claim_outbox)$', 'channel', '''sms'''),
  ('\.set_template$', 'subject', '''Hi {{member_name}}'''),
  ('\.set_template$', 'body', '''{{referral_name}} joined'''),
  ('\.(mark_sent|mark_failed)$', 'id', '{a_msg}'),
  ('\.mark_failed$', 'error', '''hx error'''),
  ('\.mark_read$', 'ids', 'ARRAY[{a_inbox}]::bigint[]'),
  ('\.(remove_member_child|remove_child)$', 'child_id', '{a_child}'),
  ('^affiliate\.(notifications|unread_count|mark_read|add_member_child|remove_member_child|member_children)$',
   'member_id', '{a_m3}'),
  -- badges and leaderboards (0.6.0): the fixture's rule 'hx badge' of each program
  ('\.(set_badge_rule|leaderboard)$', 'metric', '''points'''),
  ('\.(set_badge_rule)$', 'threshold', '100'),
  ('\.(set_badge_rule)$', 'level', '''gold'''),
  ('\.(set_badge_rule_active)$', 'name', '''hx badge'''),
  ('\.(set_badge_rule_active)$', 'active', 'false'),
  ('\.(leaderboard|leaderboard_period_start)$', 'period', '''week'''),
  ('\.(increment_counter)$', 'counter', '''hx_calls''');
create table hx_tbase (typ text primary key, expr text);
insert into hx_tbase values
  ('bigint', '1'), ('integer', '1'), ('text', '''hx'''), ('jsonb', '''{}''::jsonb'), ('date', '''2015-05-05'''),
  ('boolean', 'null'), ('timestamp with time zone', 'now()'), ('interval', '''1 day''::interval'),
  ('inet', '''192.0.2.1''::inet'), ('integer[]', '''{}''::integer[]'), ('bigint[]', '''{}''::bigint[]'),
  ('affiliate.refcode', '''{a_code1}''::affiliate.refcode');

-- ---------------------------------------------------------------------------
-- claims per role, and hostile claims
-- ---------------------------------------------------------------------------
create table hx_role_claims (role text primary key, claims text);
insert into hx_role_claims values
  ('affiliate_operator', '{"role": "affiliate_operator", "program": {pa}, "sub": "hx-operator"}'),
  ('affiliate_admin', '{"role": "affiliate_admin", "program": {pa}, "sub": "hx-admin"}'),
  ('affiliate_member', '{"role": "affiliate_member", "program": {pa}, "sub": "hx-a-3"}'),
  ('affiliate_anon', '{"role": "affiliate_anon"}'),
  ('superuser', '{"role": "affiliate_admin", "program": {pa}, "sub": "hx-superuser"}');
-- join: the caller has not joined yet
create table hx_fn_claims (fn_re text, role text, claims text);
insert into hx_fn_claims values
  ('^affiliate_api\.join$', 'affiliate_member', '{"role": "affiliate_member", "program": {pa}, "sub": "hx-new-joiner"}');

create table hx_claims (vclass text, claims text);
insert into hx_claims (vclass, claims) values
  ('claims_unset', null),
  ('claims_empty', ''),
  ('claims_not_json', 'not json {'),
  ('claims_array', '[1, 2]'),
  ('claims_string', '"x"'),
  ('claims_json_null', 'null'),
  ('program_missing', '{"role": "{role}", "sub": "hx-a-3"}'),
  ('program_null', '{"role": "{role}", "program": null, "sub": "hx-a-3"}'),
  ('program_zero', '{"role": "{role}", "program": 0, "sub": "hx-a-3"}'),
  ('program_negative', '{"role": "{role}", "program": -1, "sub": "hx-a-3"}'),
  ('program_fraction', '{"role": "{role}", "program": 1.5, "sub": "hx-a-3"}'),
  ('program_string_digits', '{"role": "{role}", "program": "{pa}", "sub": "hx-a-3"}'),
  ('program_string_junk', '{"role": "{role}", "program": "{pa}; drop table affiliate.posting", "sub": "hx-a-3"}'),
  ('program_past_bigint', '{"role": "{role}", "program": 9223372036854775808, "sub": "hx-a-3"}'),
  ('program_1e400', '{"role": "{role}", "program": 1e400, "sub": "hx-a-3"}'),
  ('program_bool', '{"role": "{role}", "program": true, "sub": "hx-a-3"}'),
  ('program_object', '{"role": "{role}", "program": {"id": {pa}}, "sub": "hx-a-3"}'),
  ('program_other', '{"role": "{role}", "program": {pb}, "sub": "hx-a-3"}'),
  ('program_unknown', '{"role": "{role}", "program": 999999, "sub": "hx-a-3"}'),
  ('program_duplicate_key', '{"role": "{role}", "program": {pb}, "program": {pa}, "sub": "hx-a-3"}'),
  ('sub_missing', '{"role": "{role}", "program": {pa}}'),
  ('sub_null', '{"role": "{role}", "program": {pa}, "sub": null}'),
  ('sub_empty', '{"role": "{role}", "program": {pa}, "sub": ""}'),
  ('sub_number', '{"role": "{role}", "program": {pa}, "sub": 3}'),
  ('sub_object', '{"role": "{role}", "program": {pa}, "sub": {"id": "hx-a-3"}}'),
  ('sub_other_program', '{"role": "{role}", "program": {pa}, "sub": "hx-b-3"}'),
  ('sub_blocked', '{"role": "{role}", "program": {pa}, "sub": "hx-a-5"}'),
  ('sub_injection', '{"role": "{role}", "program": {pa}, "sub": "hx-a-3'' or ''1''=''1"}'),
  ('sub_201_chars', '{"role": "{role}", "program": {pa}, "sub": "' || repeat('x', 201) || '"}'),
  ('sub_nul_escape', '{"role": "{role}", "program": {pa}, "sub": "hx-a-3\u0000"}'),
  ('role_claim_mismatch', '{"role": "affiliate_admin", "program": {pa}, "sub": "hx-a-3"}');

create table hx_headers (vclass text, headers text);
insert into hx_headers (vclass, headers) values
  ('headers_empty', ''),
  ('headers_not_json', 'not json {'),
  ('headers_array', '[1]'),
  ('xff_not_an_ip', '{"x-forwarded-for": "not-an-ip"}'),
  ('xff_many', '{"x-forwarded-for": "198.51.100.1, 198.51.100.2, 203.0.113.9"}'),
  ('xff_empty_entries', '{"x-forwarded-for": ", , ,"}'),
  ('xff_ipv6_zone', '{"x-forwarded-for": "fe80::1%eth0"}'),
  ('xff_injection', '{"x-forwarded-for": "1.2.3.4''; drop table affiliate.click; --"}'),
  ('xff_number', '{"x-forwarded-for": 5}'),
  ('xff_null', '{"x-forwarded-for": null}'),
  ('real_ip_bad', '{"x-real-ip": "999.999.999.999"}'),
  ('user_agent_control', '{"user-agent": "a\u0001\u001b[31m"}'),
  ('user_agent_nul_escape', '{"user-agent": "a\u0000b"}');

-- Claims and headers are kept as SQL expressions giving the setting's text,
-- evaluated by hx_one: the large ones are built at call time, not stored
-- once per call.
update hx_role_claims set claims = quote_literal(claims);
update hx_fn_claims set claims = quote_literal(claims);
update hx_claims set claims = quote_literal(claims);
update hx_headers set headers = quote_literal(headers);
insert into hx_claims (vclass, claims) values
  ('claims_100k_keys', $e$'{"role": "{role}", "program": {pa}, "sub": "hx-a-3", '
     || (select string_agg(format('"k%s": %s', i, i), ', ') from generate_series(1, 100000) i) || '}'$e$),
  ('sub_one_mb', $e$'{"role": "{role}", "program": {pa}, "sub": "' || repeat('x', 1048576) || '"}'$e$);
insert into hx_headers (vclass, headers) values
  ('xff_one_mb', $e$'{"x-forwarded-for": "' || repeat('1.2.3.4, ', 116509) || '"}'$e$),
  ('user_agent_one_mb', $e$'{"user-agent": "' || repeat('x', 1048576) || '"}'$e$);

-- not_granted: a role without EXECUTE calls the baseline (refused with
-- 42501 by PostgreSQL; expect = 'refuse' is set where it is generated)

-- ---------------------------------------------------------------------------
-- what must be refused: accepting a call that matches a rule is a failure.
-- Regular expressions on "schema.function", the varied argument ('' for
-- claims and headers) and the value class; each rule cites the docs.
-- ---------------------------------------------------------------------------
create table hx_expect (fn_re text, arg_re text, vclass_re text, why text);
insert into hx_expect values
  -- badges and leaderboards (0.6.0)
  ('\.(set_badge_rule|leaderboard)$', '^metric$', '.',
   'a metric is referrals, earnings, points, courses or counter:<name>: gamification.md (22023, 22004)'),
  ('\.set_badge_rule$', '^level$', '.', 'a level is bronze, silver, gold or platinum: gamification.md (22023, 22004)'),
  ('\.set_badge_rule$', '^threshold$', '^(null|zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1)$',
   'a threshold is 1 to 10^15: gamification.md (22023, 22004)'),
  ('\.set_badge_rule_active$', '^name$', '.', 'no other rule of that name exists: gamification.md (P0002, 22023, 22004)'),
  ('\.set_badge_rule_active$', '^active$', '^null$', 'active is true or false: gamification.md (22004)'),
  ('\.increment_counter$', '^counter$', '.',
   'a counter name matches ^[a-z][a-z0-9_]{0,31}$: gamification.md (22023, 22004)'),
  ('\.increment_counter$', '^by$', '^(null|zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1)$',
   'by is 1 to 10^15: gamification.md (22023, 22004)'),
  ('\.increment_counter$', '^member_id$',
   '^(null|zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1|unknown_member|other_program_member)$',
   'no such member in the program: gamification.md (P0002; PT404 over HTTP)'),
  ('^affiliate\.leaderboard$', '^period$', '.', 'a period is day, week, month or all: gamification.md (22023, 22004)'),
  ('^affiliate\.leaderboard$', '^program_id$',
   '^(null|zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1|unknown_program)$',
   'the program must exist: gamification.md (P0002, 22004)'),
  ('^affiliate_api\.leaderboard$', '^period$', '.', 'a period is day, week, month or all: gamification.md (22023, 22004)'),
  ('\.leaderboard$', '^max_rows$', '^(null|zero|minus_one|int_min|int_max|million_and_one)$',
   'max_rows is 1 to 1000: gamification.md (22023, 22004)'),
  ('^affiliate\.leaderboard$', '^at$', '^(null|infinity|minus_infinity)$', 'at is finite: gamification.md (22023, 22004)'),
  ('^(?!affiliate(_api)?\.adjust_balance$)', '^amount$', '^(minus_one|bigint_min|minus_past_ten_pow_15)$',
   'a negative amount (only adjust_balance debits): wallet.md, commissions.md, money.md'),
  ('\.(request_withdrawal|pay_from_wallet|adjust_balance|refund_conversion)$', '^amount$', '^zero$',
   'amount 0: wallet.md (≤ 0, zero for adjust_balance), commissions.md refund (≤ 0)'),
  ('\.adjust_balance$', '^amount$', '^(past_ten_pow_15|bigint_max|bigint_max_minus_1|bigint_min)$',
   'beyond 10^15 minor units: ledger.md, postgrest.md (22003)'),
  ('\.(request_withdrawal|pay_from_wallet)$', '^amount$',
   '^(bigint_max|bigint_max_minus_1|ten_pow_15|past_ten_pow_15|more_than_available)$',
   'more than the available balance: wallet.md (23514)'),
  ('\.request_withdrawal$', '^amount$', '^two$', 'below min_withdrawal: wallet.md (23514)'),
  ('\.record_conversion$', '^cost$', '^(minus_one|bigint_min|minus_past_ten_pow_15|ten_pow_15|past_ten_pow_15|bigint_max|bigint_max_minus_1)$',
   'cost outside 0 … amount: commissions.md'),
  ('\.(split|set_plan)$', '^(rates_bp|levels)$',
   '^(null_element|negative|over_100_pct|sum_over_100_pct|int_max_twice|int_min|two_dimensional|len_1001|len_100000)$',
   'rates 0 … 10000 summing to ≤ 10000, one-dimensional, no NULLs, bounded count: money.md, commissions.md set_plan'),
  ('\.set_plan$', '^(flat|caps)$', '^(negative|negative_pair|two_dimensional|len_1001)$',
   'flat and caps: one element per level, each ≥ 0: commissions.md set_plan'),
  ('\.set_plan$', '^qualification$',
   '^(negative_min_direct|past_bigint_min_direct|fraction_min_direct|unknown_qualification|json_null|empty_array|scalar_string|scalar_number|injection_keys|wide_10000_keys|one_mb_value|deep_1000|number_1e400)$',
   'a JSON object whose one key is min_direct, an integer ≥ 0: commissions.md set_plan'),
  ('\.(create_program|update_program_settings)$', '^settings$',
   '^(negative_hold|huge_hold|hold_number|hold_null|negative_min_withdrawal|past_bigint_min_withdrawal|fraction_min_withdrawal|string_min_withdrawal|zero_rounding_unit|bad_rounding|zero_window|bad_clawback|unknown_key|array_value|zero_fraud_members|fraud_window_number|fraud_ratio_over|empty_array|scalar_string|scalar_number|injection_keys|one_mb_value|wide_10000_keys|deep_1000|number_1e400)$',
   'an unknown key, a wrong JSON type, an out-of-range value (hold_period over 100 years) or a null: ledger.md create_program (22023)'),
  ('\.set_plan$', '^recurring$', '^(zero|negative|huge|huge_negative)$',
   'recurring: a positive interval of at most 100 years: commissions.md set_plan'),
  ('\.record_conversion$', '^occurred_at$', '^(infinity|minus_infinity|min|max)$',
   'occurred_at infinite or more than 100 years from now: commissions.md record_conversion (22023)'),
  ('\.(record_bill|award_points)$', '^(occurred_at|expires_at)$', '^(infinity|minus_infinity|min|max)$',
   'occurred_at and expires_at finite, within 100 years of now: loyalty.md (22023)'),
  ('\.(award_points|deduct_points|record_bill|refund_bill)$', '^(points|amount)$',
   '^(zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1)$',
   'points and amounts are 1 to 10^15: loyalty.md (22023)'),
  ('\.set_points_rule$', '^event$', '.',
   'an event is bill, signup, referral_converted, course_completed or birthday: loyalty.md (22023)'),
  ('\.set_points_rule$', '^(points|per_amount)$', '^(minus_one|bigint_min|bigint_max|bigint_max_minus_1)$',
   'rule points 0 to 10^9, per_amount 1 to 10^15: loyalty.md (22023)'),
  ('\.set_points_policy$', '^pending_days$', '^(minus_one|int_min|int_max|million_and_one)$',
   'pending_days 0 to 365: loyalty.md (22023)'),
  ('\.set_tier$', '^rank$', '^(minus_one|int_min|int_max|million_and_one)$',
   'rank 0 to 1000: loyalty.md Tiers (22023)'),
  ('\.set_tier$', '^threshold$', '^(minus_one|bigint_min|bigint_max|bigint_max_minus_1)$',
   'threshold 0 to 10^15: loyalty.md Tiers (22023)'),
  ('\.set_tier$', '^basis$', '.', 'a basis is points or spend: loyalty.md Tiers (22023)'),
  ('\.set_tier$', '^qualifying_window$', '^(zero|negative|huge|huge_negative)$',
   'a qualifying window is positive, at most 100 years: loyalty.md Tiers (22023)'),
  ('\.set_tier$', '^multiplier_bp$', '^(minus_one|int_min|int_max)$',
   'multiplier_bp 0 to 1000000: loyalty.md Tiers (22023)'),
  ('\.set_tier$', '^benefits$', '^(json_null|empty_array|scalar_string|scalar_number)$',
   'benefits are a JSON object: loyalty.md Tiers (22023)'),
  ('\.set_tier_policy$', '^grace_period$', '^(negative|huge|huge_negative)$',
   'a grace period is 0 to 100 years: loyalty.md Tiers (22023)'),
  ('\.set_member_tier$', '^tier$', '.', 'no such tier in the program: loyalty.md Tiers (P0002)'),
  ('\.(set_member_tier|member_tier)$', '^member_id$',
   '^(zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1|unknown_member|other_program_member)$',
   'no such member in the program: loyalty.md Tiers (P0002)'),
  ('\.review_tiers$', '^as_of$', '^(infinity|minus_infinity)$', 'as_of must be finite: loyalty.md Tiers (22023)'),
  ('\.(add_reward|set_reward)$', '^cost_points$', '^(zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1)$',
   'cost_points 1 to 10^15: loyalty.md#rewards (22023)'),
  ('\.(add_reward|set_reward)$', '^stock$', '^(minus_one|bigint_min|bigint_max|bigint_max_minus_1)$',
   'stock NULL or 0 to 10^15: loyalty.md#rewards (22023)'),
  ('\.(add_reward|set_reward)$', '^per_member_limit$', '^(zero|minus_one|int_min|int_max|million_and_one)$',
   'per_member_limit NULL or 1 to 1 000 000: loyalty.md#rewards (22023)'),
  ('\.(add_reward|set_reward)$', '^(valid_from|valid_until)$', '^(infinity|minus_infinity|min|max|past_max)$',
   'valid_from and valid_until finite, within 100 years of now: loyalty.md#rewards (22023)'),
  ('\.(set_reward|redeem_reward)$', '^reward_id$',
   '^(null|zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1|unknown_reward|other_program_reward)$',
   'no such reward in the program: loyalty.md#rewards (P0002)'),
  ('\.create_campaign$', '^offer_type$', '.', 'an offer type is percent_off, amount_off, credits or trial_days: campaigns.md (22023)'),
  ('\.create_campaign$', '^value$', '^(null|zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1)$',
   'a percent_off value is 1 to 10000 basis points: campaigns.md (22023)'),
  ('\.create_campaign$', '^total_limit$', '^(zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1)$',
   'total_limit NULL or 1 to 10^15: campaigns.md (22023)'),
  ('\.create_campaign$', '^per_member_limit$', '^(zero|minus_one|int_min|int_max|million_and_one)$',
   'per_member_limit NULL or 1 to 1 000 000: campaigns.md (22023)'),
  ('\.create_campaign$', '^(starts_at|ends_at)$', '^(infinity|minus_infinity|min|max)$',
   'starts_at and ends_at finite, within 100 years of now: campaigns.md (22023)'),
  ('\.create_campaign$', '^credit_expiry$', '^(?!null$)', 'credit_expiry is for credits offers only: campaigns.md (22023)'),
  ('\.create_campaign$', '^owner_id$', '^(zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1|unknown_member|other_program_member)$',
   'the owner is a member of the program: campaigns.md (P0002)'),
  ('\.create_campaign$', '^code$', '^(?!(null|other_program_code|lower_case_code|mistyped_code)$)',
   'a promo code is 3 to 32 letters, digits, hyphens or underscores: campaigns.md (22023)'),
  ('\.set_campaign_status$', '^status$', '.', 'a status is draft, scheduled, active, paused or completed, as the current one allows: campaigns.md'),
  ('\.(set_campaign_status|issue_promo_code)$', '^campaign_id$',
   '^(null|zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1|unknown_campaign|other_program_campaign)$',
   'no such campaign in the program: campaigns.md (P0002)'),
  ('\.(redeem_promo|issue_promo_code)$', '^member_id$',
   '^(null|zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1|unknown_member|other_program_member)$',
   'no such member in the program: campaigns.md (P0002)'),
  ('\.redeem_promo$', '^member_id$', '^blocked_member$', 'a blocked member redeems no promo code: campaigns.md (55000)'),
  ('\.set_birthday_campaign$', '^campaign_id$',
   '^(zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1|unknown_campaign|other_program_campaign)$',
   'no such campaign in the program (NULL turns birthday codes off): campaigns.md (P0002)'),
  ('\.redeem_promo$', '^code$', '.', 'a code of an active campaign of the program: campaigns.md (22004, 22023, P0002)'),
  ('\.redeem_promo$', '^order_amount$', '^(minus_one|bigint_min|bigint_max|bigint_max_minus_1)$',
   'order_amount 0 to 10^15: campaigns.md (22023)'),
  ('\.record_conversion$', '^promo_code$', '^(?!null$)', 'a promo code of the program: campaigns.md (22023, P0002)'),
  ('\.(advance_campaigns|expire_promo_credits)$', '^as_of$', '^(infinity|minus_infinity)$', 'as_of must be finite: campaigns.md (22023)'),
  ('\.redeem_reward$', '^member_id$',
   '^(null|zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1|unknown_member|other_program_member)$',
   'no such member in the program: loyalty.md#rewards (P0002)'),
  ('\.(award_points|deduct_points|record_bill)$', '^member_id$',
   '^(zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1|unknown_member|other_program_member)$',
   'no such member in the program: loyalty.md (P0002)'),
  ('\.(move_member|record_conversion|set_member_status|adjust_balance|pay_from_wallet|request_withdrawal)$',
   '^(member_id|buyer_id|seller_id|new_sponsor_id)$',
   '^(zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1|unknown_member|other_program_member)$',
   'no such member in the program (0 included): referrals.md, commissions.md, wallet.md (P0002; PT404 over HTTP)'),
  ('\.(block_member|unblock_member|run_fraud_checks)$', '^member_id$',
   '^(null|zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1|unknown_member|other_program_member)$',
   'no such member in the program: fraud.md (P0002; PT404 over HTTP)'),
  ('\.resolve_fraud_flag$', '^flag_id$',
   '^(null|zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1|unknown_flag|other_program_flag)$',
   'no such flag in the program: fraud.md (P0002; PT404 over HTTP)'),
  ('\.resolve_fraud_flag$', '^status$', '.', 'a decision is resolved or dismissed: fraud.md (22023)'),
  ('\.(resolve_fraud_flag|block_member|unblock_member)$', '^(note|reason)$', '^(null|empty|len_2001|one_mb|one_mb_multibyte)$',
   'a note or reason of 1 to 2000 bytes is required: fraud.md (22004, 22023)'),
  ('\.block_member$', '^member_id$', '^blocked_member$', 'the member is already blocked: fraud.md (55000; PT409 over HTTP)'),
  ('\.run_fraud_checks_all$', '^as_of$', '^(null|infinity|minus_infinity|min|max|past_max)$',
   'as_of finite, within 100 years of now: fraud.md (22004, 22023)'),
  ('\.post_journal$', '^legs$',
   '^(unbalanced|bigint_extremes|past_ten_pow_15|fraction|zero_amount|one_leg|legs_1001|other_program_account|other_program_member|overdraft_member|injection_kind|json_null|empty_object|empty_array|scalar_string|scalar_number|number_1e400|deep_1000|wide_10000_keys|one_mb_value|injection_keys)$',
   '2 to 1000 balanced legs of non-zero integer amounts ≤ 10^15 on accounts of the program, no overdraft: ledger.md'),
  ('\.(approve_withdrawal|reject_withdrawal|complete_withdrawal|fail_withdrawal|cancel_withdrawal)$', '^withdrawal_id$',
   '^(null|zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1|unknown_withdrawal|other_program_withdrawal|paid_withdrawal)$',
   'an unknown withdrawal, one of another program, or a step its state does not allow: wallet.md'),
  ('^affiliate_api\.cancel_withdrawal$', '^withdrawal_id$', '^other_members_withdrawal$',
   'a withdrawal of another member: postgrest.md (PT404)'),
  ('\.move_member$', '^new_sponsor_id$',
   '^(self_cycle|descendant_cycle|other_program_member|unknown_member|minus_one|bigint_min|bigint_max|bigint_max_minus_1)$',
   'a cycle or a sponsor not in the program: referrals.md move_member'),
  ('\.request_withdrawal$', '^destination$',
   '^(null|empty|blank|whitespace|len_201|len_2001|len_201_after_trim|multibyte_202_bytes|one_mb|one_mb_multibyte|control_chars|unicode_odd|non_printable)$',
   'printable ASCII, 1 to 200 characters without white space: wallet.md'),
  ('\.request_withdrawal$', '^method$', '^(?!upper_case$)',
   'method lower-cased must match ^[a-z][a-z0-9_]{0,31}$: wallet.md'),
  ('\.create_program$', '^currency$', '^(?!lower_case$)',
   'a three-letter ISO 4217 code: ledger.md create_program'),
  ('^(?!affiliate\.refcode_(is_valid|error)$|affiliate_api\.lookup_code$)', '^(?!description$)', '^(one_mb|one_mb_multibyte|len_2001)$',
   'no text argument takes more than 2000 bytes (only the code validators look at any text; a course description 10000): docs/*.md'),
  ('\.(create_course|add_module|add_topic)$', '^description$', '^(empty|one_mb|one_mb_multibyte)$',
   'a description of a course, module or topic is 1 to 10000 bytes, or NULL: certificates.md'),
  ('.', '^(external_id|external_ref|refund_ref|provider_ref|product|name|channel|device_id|idempotency_key|order_ref|referral_code|title)$',
   '^(empty|len_201|multibyte_202_bytes)$',
   '1 to 200 bytes (order_ref 180): referrals.md, commissions.md, wallet.md, ledger.md'),
  ('^affiliate_api\.(me|my_tree|my_balance|my_transactions|request_withdrawal|cancel_withdrawal|my_notifications|my_unread_count|mark_read|my_children|add_child|remove_child|redeem_promo|my_promo_redemptions)$|^affiliate\.current_member$', '^$',
   '^(claims_(unset|empty|not_json|array|string|json_null)|program_(missing|null|zero|negative|fraction|string_junk|past_bigint|1e400|bool|object|other|unknown)|sub_(missing|null|empty|object|other_program|201_chars|one_mb|injection))$',
   'a member call needs a program and the sub of a member of it: postgrest.md claims (42501)'),
  ('^affiliate_api\.(add_member|adjust_balance|approve_withdrawal|block_member|complete_withdrawal|create_campaign|fail_withdrawal|move_member|pay_from_wallet|record_conversion|refund_conversion|reject_withdrawal|resolve_fraud_flag|run_fraud_checks|set_campaign_status|set_member_status|set_plan|unblock_member|update_program_settings|set_template|remove_template)$', '^$',
   '^(claims_(unset|empty|not_json|array|string|json_null)|program_(missing|null|zero|negative|fraction|string_junk|past_bigint|1e400|bool|object|unknown))$',
   'an admin call needs the program claim of an existing program: postgrest.md claims (42501, PT404)'),
  ('^affiliate_api\.(adjust_balance|approve_withdrawal|block_member|complete_withdrawal|create_campaign|fail_withdrawal|move_member|reject_withdrawal|resolve_fraud_flag|run_fraud_checks|set_campaign_status|set_member_status|set_plan|unblock_member|update_program_settings|set_template|remove_template)$',
   '^$', '^sub_(empty|object|201_chars|one_mb)$',
   'an audited call records the sub, a string or a number of 1 to 200 characters: postgrest.md claims (42501)'),
  -- birthday promo codes (0.6.0): the admin's setter, like the calls above
  ('^affiliate_api\.set_birthday_campaign$', '^$',
   '^(claims_(unset|empty|not_json|array|string|json_null)|program_(missing|null|zero|negative|fraction|string_junk|past_bigint|1e400|bool|object|unknown))$',
   'an admin call needs the program claim of an existing program: postgrest.md claims (42501, PT404)'),
  ('^affiliate_api\.set_birthday_campaign$', '^$', '^sub_(empty|object|201_chars|one_mb)$',
   'an audited call records the sub, a string or a number of 1 to 200 characters: postgrest.md claims (42501)'),
  -- notifications (0.6.0)
  ('\.(set_template|remove_template)$', '^(event|channel)$', '.',
   'an event and a channel from the lists: notifications.md (22023; 22004 for NULL)'),
  ('\.set_template$', '^body$', '^(null|empty|whitespace|len_2001|one_mb|one_mb_multibyte|template_mustache|control_chars)$',
   'a body of 1 to 2000 bytes, well-formed placeholders of the event''s variables, no control characters but newline and tab: notifications.md (22023, 22004)'),
  ('\.claim_outbox$', '^max_rows$', '^(null|zero|minus_one|int_min|int_max|million_and_one)$',
   'max_rows 1 to 1000: notifications.md (22023, 22004)'),
  ('\.claim_outbox$', '^lease$', '^(null|zero|negative|huge|huge_negative|microsecond|past_max)$',
   'a lease of 10 seconds to 1 day: notifications.md (22023, 22004)'),
  ('\.mark_read$', '^ids$', '^(null|null_element|negative|bigint_max|bigint_min|two_dimensional|len_1001|past_bigint_max)$',
   'ids of the member''s in-app messages, at most 1000, no NULL: notifications.md (P0002, 22004, 22023)'),
  ('\.(add_member_child|add_child)$', '^birth_date$', '^(null|infinity|minus_infinity|min|max|future|past_max)$',
   'a birth date between 1900-01-01 and today: notifications.md (22023, 22004)'),
  ('^affiliate\.(notifications|unread_count|mark_read|add_member_child|remove_member_child|member_children)$', '^member_id$',
   '^(null|zero|minus_one|bigint_min|bigint_max|bigint_max_minus_1|unknown_member|other_program_member)$',
   'no such member in the program: notifications.md (P0002, 22004)');

create function hx_expect_for(fn text, arg text, vclass text) returns text language sql stable as $$
  select case when exists (select 1 from hx_expect e
                            where fn ~ e.fn_re and coalesce(arg, '') ~ e.arg_re and vclass ~ e.vclass_re)
              then 'refuse' end
$$;

create table hx_skip (fn regprocedure, why text);

-- ---------------------------------------------------------------------------
-- hx_generate() — fill hx_call
-- ---------------------------------------------------------------------------
create function hx_fill(s text) returns text language plpgsql stable as $$
-- replace every {name} of hx_fix by its value
declare f record;
begin
  for f in select * from hx_fix loop
    s := replace(s, '{' || f.name || '}', f.val);
  end loop;
  return s;
end $$;

create function hx_claimed(claims text) returns text language plpgsql volatile as $$
-- the "program" claim of a claims expression, as text ('' when there is
-- none): the program a call under these claims may change
declare p text;
begin
  execute format('select (%s)::jsonb ->> %L', claims, 'program') into p;
  return coalesce(p, '');
exception when others then
  return '';
end $$;

create function hx_call_sql(nsp text, fname text, kind "char", args text) returns text
language sql immutable as $$
  select case when kind = 'p'
              then format('call %I.%I(%s)', nsp, fname, coalesce(args, ''))
              else format('select left(string_agg(t::text, %L), 300) from %I.%I(%s) t',
                          '; ', nsp, fname, coalesce(args, '')) end
$$;

create function hx_generate() returns void language plpgsql as $$
declare
  f record; r text; i int; k int;
  names text[]; types text[]; dflts text[]; base text[];
  roles text[]; claims text; vals record; args text; call text; scope text;
  jwt_roles constant text[] := array['affiliate_admin', 'affiliate_member', 'affiliate_anon'];
  all_roles constant text[] := array['affiliate_operator', 'affiliate_admin', 'affiliate_member', 'affiliate_anon'];
  reads_claims boolean; reads_headers boolean; pidx int; vary int; pval text; crole text;
begin
  for f in
    select p.oid, n.nspname, p.proname, p.prokind, p.prorettype, p.prosrc,
           coalesce(p.proallargtypes, array(select unnest(p.proargtypes::oid[]))) as alltypes,
           coalesce(p.proargmodes, array_fill('i'::"char", array[p.pronargs])) as modes,
           p.proargnames
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname in ('affiliate', 'affiliate_api')
     order by n.nspname, p.proname, p.oid
  loop
    -- what is skipped, and why
    if f.prorettype = 'trigger'::regtype then
      insert into hx_skip values (f.oid, 'trigger function (runs only from its triggers)');
      continue;
    end if;
    if exists (select 1 from pg_type t where f.oid in (t.typinput, t.typoutput, t.typreceive, t.typsend)) then
      insert into hx_skip values (f.oid, 'type I/O function (refcode_in is fuzzed through text casts in every refcode argument)');
      continue;
    end if;
    if exists (select 1 from unnest(f.alltypes) t where t in ('internal'::regtype, 'cstring'::regtype)) then
      insert into hx_skip values (f.oid, 'takes internal or cstring (a support function only the server calls)');
      continue;
    end if;
    select array_agg(ro order by ord) into roles
      from unnest(all_roles) with ordinality u(ro, ord)
     where has_function_privilege(ro, f.oid, 'EXECUTE');
    if roles is null then
      insert into hx_skip values (f.oid, 'granted to none of the roles (internal helper, superuser only)');
      continue;
    end if;

    -- input arguments: names, types, defaults, baselines
    names := '{}'; types := '{}'; dflts := '{}'; base := '{}';
    for k in 1 .. coalesce(array_length(f.alltypes, 1), 0) loop
      if f.modes[k] in ('i', 'b', 'v') then
        names := names || coalesce(f.proargnames[k], '$' || k);
        types := types || format_type(f.alltypes[k], null);
        dflts := dflts || pg_get_function_arg_default(f.oid, k);
      end if;
    end loop;
    for i in 1 .. coalesce(array_length(names, 1), 0) loop
      base := base || coalesce(
        (select b.expr from hx_base b
          where b.fn_re <> '' and (f.nspname || '.' || f.proname) ~ b.fn_re and b.arg in (names[i], '')
          order by b.arg = '' limit 1),
        dflts[i],
        (select b.expr from hx_base b where b.fn_re = '' and b.arg = names[i]),
        (select b.expr from hx_tbase b where b.typ = types[i]),
        'null');
    end loop;
    pidx := array_position(names, 'program_id');
    reads_claims := f.nspname = 'affiliate_api' or f.prosrc ~* 'claim|current_member|request\.jwt'
                    or f.proname ~ '^(claimed_|current_member)';
    reads_headers := f.prosrc ~* 'request_client|request\.headers' or f.proname = 'request_client';

    foreach r in array roles || array['superuser'] loop
      -- the superuser calls with the claims of the first JWT role that may
      -- call the function (a member function needs a member's claims)
      crole := case when r <> 'superuser' then r
                    else coalesce((select x from unnest(roles) x where x = any (jwt_roles) limit 1), r) end;
      claims := coalesce(
        (select c.claims from hx_fn_claims c where (f.nspname || '.' || f.proname) ~ c.fn_re and c.role = crole),
        (select c.claims from hx_role_claims c where c.role = crole));
      -- vary = 0: baseline; -1: all NULL; i > 0: argument i takes each hostile value
      for vary in -1 .. coalesce(array_length(names, 1), 0) loop
        continue when r = 'superuser' and vary > 0;
        continue when vary = -1 and coalesce(array_length(names, 1), 0) = 0;
        for vals in
          select 'baseline' as vclass, null::text as expr where vary = 0
          union all select 'all_null', null where vary = -1
          union all select t.vclass, t.expr from hx_tval t where vary > 0 and t.typ = types[vary]
          union all select v.vclass, v.expr from hx_nval v
           where vary > 0 and names[vary] ~ v.arg_re and (f.nspname || '.' || f.proname) ~ coalesce(nullif(v.fn_re, ''), '.')
        loop
          select string_agg(format('(%s)::%s',
                   case when vary = -1 then 'null' when j = vary then vals.expr else base[j] end, types[j]), ', ' order by j)
            into args from generate_series(1, coalesce(array_length(names, 1), 0)) j;
          pval := case when vary = -1 then 'null' when pidx = vary then vals.expr else base[pidx] end;
          scope := case
            -- program_id NULL where NULL is the default means every program (release_due, verify, ...)
            when pidx is not null and pval ~* '^null(::bigint)?$' and dflts[pidx] ~* '^null' then null
            when pidx is not null then pval
            when reads_claims then hx_claimed(hx_fill(claims))
            else '' end;
          insert into hx_call (fn, role, claims, arg_name, vclass, val_expr, sql, scope, expect)
          values (f.oid, r, hx_fill(claims), case when vary > 0 then names[vary] end, vals.vclass,
                  hx_fill(vals.expr), hx_fill(hx_call_sql(f.nspname, f.proname, f.prokind, args)),
                  hx_fill(scope), hx_expect_for(f.nspname || '.' || f.proname, case when vary > 0 then names[vary] end, vals.vclass));
        end loop;
      end loop;
      continue when r = 'superuser';
      -- hostile claims and headers, baseline arguments
      select string_agg(format('(%s)::%s', base[j], types[j]), ', ' order by j)
        into args from generate_series(1, coalesce(array_length(names, 1), 0)) j;
      if reads_claims or r = any (jwt_roles) then
        insert into hx_call (fn, role, claims, vclass, val_expr, sql, scope, expect)
          select f.oid, r, cl, c.vclass, format('(%s)::jsonb', cl),
                 hx_fill(hx_call_sql(f.nspname, f.proname, f.prokind, args)),
                 case when pidx is not null then hx_fill(base[pidx]) else hx_claimed(cl) end,
                 hx_expect_for(f.nspname || '.' || f.proname, null, c.vclass)
            from hx_claims c, hx_fill(replace(c.claims, '{role}', r)) cl;
      end if;
      if reads_headers then
        insert into hx_call (fn, role, claims, headers, vclass, val_expr, sql, scope, expect)
          select f.oid, r, hx_fill(claims), h.headers, h.vclass, format('(%s)::jsonb', h.headers),
                 hx_fill(hx_call_sql(f.nspname, f.proname, f.prokind, args)),
                 case when pidx is not null then hx_fill(base[pidx])
                      when reads_claims then hx_claimed(hx_fill(claims))
                      else '' end, hx_expect_for(f.nspname || '.' || f.proname, null, h.vclass)
            from hx_headers h;
      end if;
    end loop;
    -- the roles that may not call it: the baseline must be refused (42501)
    select string_agg(format('(%s)::%s', base[j], types[j]), ', ' order by j)
      into args from generate_series(1, coalesce(array_length(names, 1), 0)) j;
    insert into hx_call (fn, role, claims, vclass, sql, scope, expect)
      select f.oid, ro, hx_fill(c.claims), 'not_granted',
             hx_fill(hx_call_sql(f.nspname, f.proname, f.prokind, args)), '', 'refuse'
        from unnest(all_roles) ro join hx_role_claims c on c.role = ro
       where ro <> all (roles);
  end loop;
end $$;

