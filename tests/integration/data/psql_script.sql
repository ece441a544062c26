-- Driven through the pooler by test_basic.py::test_psql_script.
-- Output is compared byte for byte with psql_script.expected.
\set QUIET off
drop table if exists psql_items;
create table psql_items (id int primary key, name text not null, price numeric(8,2));
insert into psql_items values (1, 'apple', 0.50), (2, 'pear', 0.75);
insert into psql_items values (3, 'plum', 1.25);
select id, name, price from psql_items order by id;
begin;
update psql_items set price = price * 2 where id = 1;
select price from psql_items where id = 1;
commit;
begin;
delete from psql_items;
select count(*) as in_tx from psql_items;
rollback;
select count(*) as after_rollback from psql_items;
\copy psql_items from 'items_in.csv' with (format csv)
select count(*), sum(price) from psql_items;
\copy (select id, name, price from psql_items where id > 3 order by id) to 'items_out.csv' with (format csv)
\copy (select id, upper(name) from psql_items where id between 4 and 5 order by id) to stdout
select string_agg(name, ',' order by id) as names from psql_items;
create index psql_items_name on psql_items (name);
alter table psql_items add column note text default 'n/a';
select id, note from psql_items where id = 2;
with recent as (select id from psql_items where id >= 5) select count(*) from recent;
drop table psql_items;
