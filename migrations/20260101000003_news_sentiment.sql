-- VADER sentiment of every news article, from news.scored.
CREATE TABLE news_sentiment (
    url       text             PRIMARY KEY,
    tenant_id text,
    title     text             NOT NULL,
    seen_at   timestamptz      NOT NULL,
    neg       double precision NOT NULL,
    neu       double precision NOT NULL,
    pos       double precision NOT NULL,
    compound  double precision NOT NULL CHECK (compound BETWEEN -1 AND 1)
);
CREATE INDEX news_sentiment_tenant_seen ON news_sentiment (tenant_id, seen_at DESC);
