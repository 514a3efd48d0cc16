//! The `text` group's tools on a real cluster: for each tool a success, an error and (where it
//! takes names or SQL fragments) an injection test.
