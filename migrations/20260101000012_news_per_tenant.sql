-- One news article can match the queries of several tenants: GDELT returns the same URL to each
-- of them, and each tenant's dashboard and hourly sentiment must count it. Keyed on the URL
-- alone, the last tenant to see an article took it from the others. The key is now
-- (tenant, url); `tenant_key` is the tenant with NULL (no tenant) spelled '' because a primary
-- key cannot hold NULL. It is generated, so writers never set it.
ALTER TABLE news_articles
    ADD COLUMN tenant_key text GENERATED ALWAYS AS (coalesce(tenant_id, '')) STORED;
ALTER TABLE news_articles DROP CONSTRAINT news_articles_pkey, ADD PRIMARY KEY (tenant_key, url);

ALTER TABLE news_sentiment
    ADD COLUMN tenant_key text GENERATED ALWAYS AS (coalesce(tenant_id, '')) STORED;
ALTER TABLE news_sentiment DROP CONSTRAINT news_sentiment_pkey, ADD PRIMARY KEY (tenant_key, url);
