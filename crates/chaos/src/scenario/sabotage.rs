//! The stores changed by hand, for the faults that need it: a Redis
//! rollback, a reservation held in Redis behind the engine's back, poison
//! messages on the order queue.

use super::*;

/// `DUMP` of the sale's keys that a rollback restores.
pub(super) async fn snapshot_sale(ctx: &Ctx<'_>) -> Result<Vec<(String, Option<Vec<u8>>)>, Error> {
    let fail = |e: redis::RedisError| Error::new(format!("snapshot: {e}"));
    let client = redis::Client::open(ctx.env.redis.as_str()).map_err(fail)?;
    let mut conn = client.get_multiplexed_async_connection().await.map_err(fail)?;
    let keys = sale_keys(ctx.sale)?;
    // What a rollback restores; the outbox stays: it is what the relays
    // publish from.
    let rolled_back = [keys.state, keys.stock, keys.buyers, keys.idem, keys.inflight];
    let mut dumps = Vec::new();
    for key in rolled_back {
        let dump: Option<Vec<u8>> = redis::cmd("DUMP")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .map_err(fail)?;
        dumps.push((key, dump));
    }
    Ok(dumps)
}

/// Puts the snapshot back, as one transaction.
pub(super) async fn restore_sale(ctx: &Ctx<'_>, snapshot: &[(String, Option<Vec<u8>>)]) -> Result<(), Error> {
    let fail = |e: redis::RedisError| Error::new(format!("restore: {e}"));
    let client = redis::Client::open(ctx.env.redis.as_str()).map_err(fail)?;
    let mut conn = client.get_multiplexed_async_connection().await.map_err(fail)?;
    let mut pipe = redis::pipe();
    pipe.atomic();
    for (key, dump) in snapshot {
        pipe.cmd("DEL").arg(key).ignore();
        if let Some(dump) = dump {
            pipe.cmd("RESTORE")
                .arg(key)
                .arg(0)
                .arg(dump.as_slice())
                .arg("REPLACE")
                .ignore();
        }
    }
    pipe.query_async::<()>(&mut conn).await.map_err(fail)
}

/// Outbox entries read by a relay and not acknowledged for `idle`.
pub(super) async fn outbox_abandoned(ctx: &Ctx<'_>, idle: Duration) -> usize {
    let Ok(client) = redis::Client::open(ctx.env.redis.as_str()) else {
        return 0;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return 0;
    };
    let reply: redis::RedisResult<Vec<redis::Value>> = redis::cmd("XPENDING")
        .arg(sale_keys(ctx.sale).map_or_else(|_| String::new(), |k| k.outbox))
        .arg(RELAY_GROUP)
        .arg("IDLE")
        .arg(idle.as_millis() as u64)
        .arg("-")
        .arg("+")
        .arg(100_000)
        .query_async(&mut conn)
        .await;
    reply.map_or(0, |entries| entries.len())
}

/// Takes one unit for `user` in Redis as the reserve script does: in
/// flight, and (if `outbox`) in the outbox for the relays to publish; without
/// it, a reservation whose message got corrupted on its way. With
/// `unstorable`, the record itself has a remaining count the ledger
/// refuses, so no copy of it can ever be stored. Returns the units left and
/// the reservation's time (microseconds), or `None` if no unit was left.
pub(super) async fn hold_in_redis(
    ctx: &Ctx<'_>,
    order_id: &str,
    user: &str,
    outbox: bool,
    unstorable: bool,
) -> Result<Option<(u64, i64)>, Error> {
    let client = redis::Client::open(ctx.env.redis.as_str()).map_err(|e| Error::new(e.to_string()))?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| Error::new(e.to_string()))?;
    let keys = sale_keys(ctx.sale)?;
    let script = redis::Script::new(
        r"
        local left = tonumber(redis.call('GET', KEYS[2]) or '0')
        if left < 1 then return {-1, 0} end
        left = redis.call('DECRBY', KEYS[2], 1)
        redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
        redis.call('HINCRBY', KEYS[1], 'in_flight', 1)
        local t = redis.call('TIME')
        local at = t[1] .. string.format('%06d', tonumber(t[2]))
        local remaining = ARGV[5] ~= '' and ARGV[5] or tostring(left)
        local rec = table.concat({ARGV[1], ARGV[2], '1', '', remaining, at}, '\n')
        redis.call('HSET', KEYS[4], ARGV[1], rec)
        if ARGV[3] == '1' then
          redis.call('XADD', KEYS[5], '*', 'v', '1', 'sale', ARGV[4], 'rec', rec)
        end
        return {left, at}
        ",
    );
    let (left, at): (i64, i64) = script
        .key(&keys.state)
        .key(&keys.stock)
        .key(&keys.buyers)
        .key(&keys.inflight)
        .key(&keys.outbox)
        .arg(order_id)
        .arg(user)
        .arg(if outbox { "1" } else { "0" })
        .arg(ctx.sale)
        .arg(if unstorable {
            u64::MAX.to_string()
        } else {
            String::new()
        })
        .invoke_async(&mut conn)
        .await
        .map_err(|e| Error::new(e.to_string()))?;
    Ok((left >= 0).then_some((left as u64, at)))
}

/// Publishes `bodies` to the scenario's order queue, each confirmed.
pub(super) async fn publish(env: &StoreEnv, bodies: &[Vec<u8>]) -> Result<(), Error> {
    let fail = |e: lapin::Error| Error::new(format!("rabbitmq: {e}"));
    let conn = Connection::connect(&env.amqp, ConnectionProperties::default())
        .await
        .map_err(fail)?;
    let channel = conn.create_channel().await.map_err(fail)?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(fail)?;
    for body in bodies {
        channel
            .basic_publish(
                "".into(),
                env.queue.as_str().into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .map_err(fail)?
            .await
            .map_err(fail)?;
    }
    let _ = conn.close(200, "done".into()).await;
    Ok(())
}

/// A reservation answered 202 and waiting in the outbox, and a corrupted
/// copy of its message that reaches the queue first (the inventories, and
/// so the relays, are paused meanwhile): the copy is dead-lettered, and the
/// genuine message, relayed afterwards, must still end as exactly one order
/// without selling the unit twice.
pub(super) async fn poison_in_flight(ctx: &mut Ctx<'_>) -> Result<(String, Vec<Accepted>), Error> {
    for i in 0..ctx.topo.inventories.len() {
        ctx.topo.get(Role::Inventory(i)).pause().await;
    }
    let order_id = uuid::Uuid::now_v7().to_string();
    let user = "in-flight-buyer";
    let held = hold_in_redis(ctx, &order_id, user, true, false).await?;
    let (_, dead_before) = ctx.inspector.queues().await.unwrap_or((0, 0));
    let copy = json!({"v": 1, "reservations": [{
        "order_id": order_id, "sale_id": ctx.sale, "user_id": user, "quantity": 1,
        "idempotency_key": null, "remaining": u64::MAX, "reserved_at": chrono::Utc::now().to_rfc3339()}]});
    let mut dead = dead_before;
    if held.is_some() {
        publish(ctx.env, &[copy.to_string().into_bytes()]).await?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while dead <= dead_before && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            dead = ctx.inspector.queues().await.map_or(dead, |(_, d)| d);
        }
    }
    let released = ctx
        .inspector
        .redis(ctx.sale)
        .await
        .map(|r| !r.buyers.contains_key(user))
        .unwrap_or(false);
    for i in 0..ctx.topo.inventories.len() {
        ctx.topo.get(Role::Inventory(i)).resume().await;
    }
    let answered = held
        .map(|_| Accepted {
            order_id: order_id.clone(),
            user: user.into(),
            key: String::new(),
            quantity: 1,
        })
        .into_iter()
        .collect();
    Ok((
        format!(
            "the corrupted copy dead-lettered: {}; its unit released while the genuine message waited in the outbox: {released}",
            dead > dead_before
        ),
        answered,
    ))
}

/// Generated poison bodies published with the hand-made ones.
pub(super) const RANDOM_POISONS: usize = 40;

/// Four poison messages and [`RANDOM_POISONS`] generated ones: garbage, a
/// wrong version, a copy of a reservation held in Redis that the ledger
/// refuses, identical to the one answered (no copy can ever be stored: the
/// consumer voids it through the ledger and its units must come back), and
/// a refused copy of an order already stored (its units must not come
/// back).
pub(super) async fn poison(ctx: &mut Ctx<'_>) -> Result<(String, Vec<Accepted>), Error> {
    let reservation = |order_id: &str, user: &str, at: chrono::DateTime<chrono::Utc>| {
        let at = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        json!({"order_id": order_id, "sale_id": ctx.sale, "user_id": user, "quantity": 1,
               "idempotency_key": null, "remaining": u64::MAX, "reserved_at": at})
    };
    // A stored order, to copy.
    let mut stored = None;
    for _ in 0..100 {
        if let Ok(orders) = ctx.inspector.orders(ctx.sale).await {
            if let Some(o) = orders.into_iter().find(|o| o.quantity == 1) {
                stored = Some(o);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored = stored.ok_or_else(|| Error::new("no stored order to copy"))?;
    let held_id = uuid::Uuid::now_v7().to_string();
    let held = hold_in_redis(ctx, &held_id, "poisoned-buyer", false, true).await?;
    // A storable reservation travelling in the same message: it must be
    // stored though its message is dead-lettered.
    let good_id = uuid::Uuid::now_v7().to_string();
    let good = hold_in_redis(ctx, &good_id, "good-neighbour", false, false).await?;
    let mut bodies: Vec<Vec<u8>> = vec![
        b"{not json at all".to_vec(),
        json!({"v": 99, "reservations": []}).to_string().into_bytes(),
        json!({"v": 1, "reservations": [reservation(&stored.order_id, &stored.user_id, chrono::Utc::now())]})
            .to_string()
            .into_bytes(),
    ];
    let mut answered = Vec::new();
    if let Some((_, at)) = held {
        let at = chrono::DateTime::from_timestamp_micros(at).unwrap_or_default();
        let mut together = vec![reservation(&held_id, "poisoned-buyer", at)];
        if let Some((left, at)) = good {
            let at = chrono::DateTime::from_timestamp_micros(at).unwrap_or_default();
            let mut r = reservation(&good_id, "good-neighbour", at);
            r["remaining"] = json!(left);
            together.push(r);
            answered.push(Accepted {
                order_id: good_id.clone(),
                user: "good-neighbour".into(),
                key: String::new(),
                quantity: 1,
            });
        }
        bodies.push(json!({"v": 1, "reservations": together}).to_string().into_bytes());
    }
    bodies.extend(crate::bad_input::poison_bodies(RANDOM_POISONS));
    publish(ctx.env, &bodies).await?;
    // Dead-lettered, and the held unit back on sale (voided by the consumer
    // through the ledger).
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut dead = 0;
    let mut released = false;
    while Instant::now() < deadline {
        if let Ok((_, d)) = ctx.inspector.queues().await {
            dead = d;
        }
        if let Ok(r) = ctx.inspector.redis(ctx.sale).await {
            released = !r.buyers.contains_key("poisoned-buyer");
        }
        if dead as usize >= bodies.len() && (held.is_none() || released) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut figure = format!(
        "{} poison messages published ({RANDOM_POISONS} of them generated), {dead} dead-lettered",
        bodies.len()
    );
    if held.is_some() {
        figure.push_str(if released {
            "; the unstorable held unit voided and back on sale"
        } else {
            "; the unstorable held unit did NOT come back"
        });
    }
    if !answered.is_empty() {
        figure.push_str("; its message also carried a storable reservation (judged with the 202s)");
    }
    Ok((figure, answered))
}
