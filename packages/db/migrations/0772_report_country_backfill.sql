-- The country rollup (0771) starts with everything already in report_daily, as country '' (unknown:
-- clicks recorded no country for plain links before), so a country report over earlier days has
-- the same totals as the performance report instead of nothing. Runs before the new admin folds
-- into report_country_daily; a fold an old admin pod makes meanwhile reaches report_daily only.
insert into report_country_daily (day, offer_id, affiliate_id, country, currency, brand_id, advertiser_id,
                                  clicks, unique_clicks, conversions, pending, approved, rejected, reversed,
                                  amount, payout, revenue)
select day, offer_id, affiliate_id, '', currency, min(brand_id), min(advertiser_id),
       sum(clicks), sum(unique_clicks), sum(conversions), sum(pending), sum(approved), sum(rejected), sum(reversed),
       sum(amount), sum(payout), sum(revenue)
from report_daily d
-- A (day, offer, affiliate) the country rollup already holds was folded there since 0771: kept as is.
where not exists (select 1 from report_country_daily c
                  where c.day = d.day and c.offer_id = d.offer_id and c.affiliate_id = d.affiliate_id)
group by day, offer_id, affiliate_id, currency;
