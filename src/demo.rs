//! `pgmcp demo`: a throwaway PostgreSQL with a small shop schema, for trying pgmcp with
//! no database of your own. The cluster lives in a temporary directory and is removed
//! when pgmcp exits, however it exits (see `cluster`).

use crate::cluster::{Cluster, ClusterOptions};

/// A small shop: enough tables, keys, indexes and rows for every core tool to say
/// something interesting, and one unindexed foreign key for index advice.
pub const SAMPLE_SQL: &str = r#"
CREATE TABLE customers (
    id          serial PRIMARY KEY,
    email       text NOT NULL UNIQUE,
    name        text NOT NULL,
    country     char(2) NOT NULL DEFAULT 'US',
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE customers IS 'People who can place orders';

CREATE TABLE products (
    id          serial PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    name        text NOT NULL,
    price       numeric(10, 2) NOT NULL CHECK (price >= 0),
    tags        text[] NOT NULL DEFAULT '{}',
    attributes  jsonb NOT NULL DEFAULT '{}'
);

CREATE TYPE order_status AS ENUM ('pending', 'paid', 'shipped', 'cancelled');

CREATE TABLE orders (
    id           serial PRIMARY KEY,
    customer_id  int NOT NULL REFERENCES customers (id),
    status       order_status NOT NULL DEFAULT 'pending',
    ordered_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE order_items (
    order_id    int NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id  int NOT NULL REFERENCES products (id),
    quantity    int NOT NULL CHECK (quantity > 0),
    unit_price  numeric(10, 2) NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
CREATE INDEX orders_ordered_at_idx ON orders (ordered_at);

CREATE VIEW order_totals AS
SELECT o.id AS order_id, o.customer_id, o.status, sum(i.quantity * i.unit_price) AS total
  FROM orders o JOIN order_items i ON i.order_id = o.id
 GROUP BY o.id;

INSERT INTO customers (email, name, country, created_at)
SELECT 'customer' || g || '@example.com', 'Customer ' || g,
       (ARRAY['US', 'DE', 'FR', 'JP', 'BR'])[1 + g % 5],
       now() - (g || ' hours')::interval
  FROM generate_series(1, 500) g;

INSERT INTO products (sku, name, price, tags, attributes)
SELECT 'SKU-' || lpad(g::text, 4, '0'), 'Product ' || g, round((5 + (g * 37) % 200)::numeric, 2),
       ARRAY[(ARRAY['kitchen', 'garden', 'office', 'toys'])[1 + g % 4]],
       jsonb_build_object('color', (ARRAY['red', 'green', 'blue'])[1 + g % 3], 'weight_g', 100 + g * 7)
  FROM generate_series(1, 100) g;

INSERT INTO orders (customer_id, status, ordered_at)
SELECT 1 + (g * 7919) % 500,
       (ARRAY['pending', 'paid', 'shipped', 'cancelled'])[1 + g % 4]::order_status,
       now() - (g || ' minutes')::interval
  FROM generate_series(1, 5000) g;

INSERT INTO order_items (order_id, product_id, quantity, unit_price)
SELECT o.id, 1 + (o.id * k * 31) % 100, 1 + (o.id + k) % 5, p.price
  FROM orders o CROSS JOIN generate_series(1, 3) k
  JOIN products p ON p.id = 1 + (o.id * k * 31) % 100
ON CONFLICT DO NOTHING;

ANALYZE;
"#;

/// Starts the cluster and loads the sample data; returns it with the URL to use.
pub async fn start() -> anyhow::Result<(Cluster, String)> {
    let cluster =
        tokio::task::spawn_blocking(|| Cluster::start(ClusterOptions::default())).await??;
    let url = cluster.url("postgres");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    let conn_task = tokio::spawn(conn);
    client.batch_execute("CREATE DATABASE shop").await?;
    // The demo connects as the superuser; its reads run as this role (see `main.rs`).
    client
        .batch_execute(crate::cluster::CREATE_READER_ROLE_SQL)
        .await?;
    drop(client);
    let _ = conn_task.await;
    let url = cluster.url("shop");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    let conn_task = tokio::spawn(conn);
    client.batch_execute(SAMPLE_SQL).await?;
    // The hardening docs/SECURITY.md recommends with --read-only-role: PostgreSQL checks a
    // role switch against the session user (here the superuser), so without it a read
    // could `set_config('role', 'none', true)` and leave the reader role mid-statement; and
    // pg_prepared_statements would show the reader earlier callers' cached SQL.
    client
        .batch_execute(crate::cluster::REVOKE_FROM_PUBLIC_SQL)
        .await?;
    drop(client);
    let _ = conn_task.await;
    Ok((cluster, url))
}

/// What to tell the user, on stderr (stdout is the MCP channel).
pub fn banner(url: &str) -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "pgmcp".into());
    format!(
        "pgmcp demo: a throwaway PostgreSQL with a sample shop database is running at\n  {url}\n\
         It is removed when pgmcp exits. MCP is being served on stdin/stdout now.\n\
         To use it from an MCP client (Claude Desktop, Cursor, …), configure:\n\
         {{\"mcpServers\": {{\"pgmcp-demo\": {{\"command\": \"{exe}\", \"args\": [\"demo\"]}}}}}}\n\
         Against your own database: {{\"command\": \"{exe}\", \"args\": [\"--postgres\", \"postgres://user:pass@host/db\"]}}\n"
    )
}
