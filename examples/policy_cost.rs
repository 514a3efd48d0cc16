fn main() {
    for sql in ["select 1", "SELECT s.relname, s.seq_scan, s.idx_scan, pg_size_pretty(pg_total_relation_size(s.relid)) FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid WHERE s.seq_scan > $1 ORDER BY s.seq_scan DESC LIMIT 10"] {
        let n = 20000;
        let t = std::time::Instant::now();
        for _ in 0..n { std::hint::black_box(pgmcp::db::read_policy::check_read_only(sql).unwrap()); }
        let policy = t.elapsed() / n;
        let t = std::time::Instant::now();
        for _ in 0..n { std::hint::black_box(pg_query::parse(sql, 0).unwrap()); }
        let parse = t.elapsed() / n;
        println!("{} chars: policy {:?}, parse alone {:?}", sql.len(), policy, parse);
    }
}
