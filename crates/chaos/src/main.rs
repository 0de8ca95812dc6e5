//! `flashsale-chaos`: runs the chaos scenarios and prints the table.

fn main() {}
