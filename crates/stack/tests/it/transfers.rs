//! Transfers between places of one sale (the buckets of a hot sale), on
//! one Redis and on a Redis Cluster: a transfer cut after its debit
//! arrives once, and units on the move never look sold out.

use flashsale_stack::redis::{Amount, Place, RedisConn, Transfers};
use flashsale_stack::RedisStock;

use crate::support;

async fn transfers(cluster: bool) -> (Transfers, RedisConn) {
    let url = match cluster {
        true => support::redis_cluster_url().await,
        false => support::redis_url().await,
    };
    let conn = RedisStock::connect(&url).await.expect("connect").connection();
    (Transfers::new(conn.clone()), conn)
}

/// `count` fresh places of one made-up sale.
fn places(count: usize) -> Vec<Place> {
    let sale = uuid::Uuid::now_v7();
    (0..count)
        .map(|k| Place::new(format!("sale:{sale}:{k}")))
        .collect()
}

async fn set_stock(conn: &RedisConn, place: &Place, units: u64) {
    redis::cmd("SET")
        .arg(&place.stock)
        .arg(units)
        .query_async::<()>(&mut conn.clone())
        .await
        .unwrap();
}

async fn cut_after_the_debit(cluster: bool) {
    let (transfers, conn) = transfers(cluster).await;
    let [from, to] = <[Place; 2]>::try_from(places(2)).unwrap();
    set_stock(&conn, &from, 10).await;
    // The debitor dies here: its units are moving, and nowhere else.
    assert_eq!(
        transfers.debit("t1", &from, &to, Amount::UpTo(4)).await.unwrap(),
        4
    );
    let look = transfers.look(&from).await.unwrap();
    assert_eq!((look.stock, look.moving, look.units()), (6, 4, 10));
    // Its retry after a time-out takes nothing more.
    assert_eq!(
        transfers.debit("t1", &from, &to, Amount::UpTo(4)).await.unwrap(),
        4
    );
    assert_eq!(transfers.look(&from).await.unwrap().stock, 6);
    // Four finishers and the debitor's own late credit race: one credit.
    let mut racers = Vec::new();
    for _ in 0..4 {
        let (t, from) = (transfers.clone(), from.clone());
        racers.push(tokio::spawn(
            async move { t.finish_pending(&from).await.unwrap() },
        ));
    }
    let late = transfers.credit("t1", &to, 4).await.unwrap();
    let mut credited = u64::from(late) * 4;
    for racer in racers {
        credited += racer.await.unwrap();
    }
    assert_eq!(credited, 4, "the transfer's units were credited once");
    assert_eq!(transfers.look(&to).await.unwrap().stock, 4);
    let look = transfers.look(&from).await.unwrap();
    assert_eq!((look.stock, look.moving), (6, 0));
    // The id is spent: debited again, it takes nothing.
    assert_eq!(
        transfers.debit("t1", &from, &to, Amount::UpTo(4)).await.unwrap(),
        0
    );
    assert_eq!(transfers.look(&from).await.unwrap().stock, 6);
    assert_eq!(transfers.finish_pending(&from).await.unwrap(), 0);
}

#[tokio::test]
async fn a_transfer_cut_after_its_debit_arrives_once() {
    cut_after_the_debit(false).await;
}

#[tokio::test]
async fn a_transfer_cut_after_its_debit_arrives_once_on_a_cluster() {
    cut_after_the_debit(true).await;
}

/// Steals between four places, some cut after their debit, while a reader
/// asks whether anything is left: the answer is never "nothing", every
/// unit is somewhere at the end, and an empty sale reads "nothing left".
async fn steals_never_look_sold_out(cluster: bool) {
    const UNITS: u64 = 40;
    let (transfers, conn) = transfers(cluster).await;
    let places = places(4);
    set_stock(&conn, &places[0], UNITS).await;
    let mut stealers = Vec::new();
    for worker in 0..4usize {
        let (t, places) = (transfers.clone(), places.clone());
        stealers.push(tokio::spawn(async move {
            for i in 0..150usize {
                let from = &places[(worker + i) % 4];
                let to = &places[(worker + 3 * i + 1) % 4];
                if from == to {
                    continue;
                }
                let id = format!("w{worker}-{i}");
                if i % 7 == 0 {
                    // Cut after the debit: only a finisher delivers it.
                    t.debit(&id, from, to, Amount::HalfUpTo(5)).await.unwrap();
                    t.finish_pending(from).await.unwrap();
                } else {
                    t.transfer(&id, from, to, Amount::HalfUpTo(5)).await.unwrap();
                }
            }
        }));
    }
    let reader = {
        let (t, places) = (transfers.clone(), places.clone());
        tokio::spawn(async move {
            let mut answers = 0;
            while answers < 200 {
                let answer = t.nothing_left(&places, 64).await.unwrap();
                assert_ne!(answer, Some(true), "told sold out with {UNITS} units on the move");
                answers += 1;
            }
        })
    };
    for stealer in stealers {
        stealer.await.unwrap();
    }
    reader.await.unwrap();
    for place in &places {
        transfers.finish_pending(place).await.unwrap();
    }
    let looks = transfers.look_all(&places).await.unwrap();
    assert_eq!(
        looks.iter().map(|l| l.stock).sum::<i64>(),
        UNITS as i64,
        "{looks:?}"
    );
    assert!(looks.iter().all(|l| l.moving == 0), "{looks:?}");
    assert_eq!(transfers.nothing_left(&places, 1).await.unwrap(), Some(false));
    let empty = self::places(4);
    assert_eq!(transfers.nothing_left(&empty, 1).await.unwrap(), Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steals_on_the_move_never_look_sold_out() {
    steals_never_look_sold_out(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steals_on_the_move_never_look_sold_out_on_a_cluster() {
    steals_never_look_sold_out(true).await;
}

/// With replicas to wait for, a step no replica holds is not followed by
/// the next: on the test cluster (masters without replicas) a debit is
/// made and never credited, by the debitor or by a finisher waiting for
/// the same replicas; a finisher that waits for none delivers it once.
#[tokio::test]
async fn a_debit_no_replica_holds_is_never_credited() {
    let (transfers, conn) = transfers(true).await;
    let acked = transfers.clone().with_replicas_ack(1);
    let [from, to] = <[Place; 2]>::try_from(places(2)).unwrap();
    set_stock(&conn, &from, 10).await;
    let refused = acked.transfer("t1", &from, &to, Amount::UpTo(4)).await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(transfers.look(&to).await.unwrap().stock, 0, "not credited");
    let look = transfers.look(&from).await.unwrap();
    assert_eq!((look.stock, look.moving), (6, 4), "debited, on its way");
    assert!(acked.finish_pending(&from).await.is_err());
    assert_eq!(transfers.look(&to).await.unwrap().stock, 0, "still not credited");
    assert_eq!(transfers.finish_pending(&from).await.unwrap(), 4);
    assert_eq!(transfers.look(&to).await.unwrap().stock, 4);
}
