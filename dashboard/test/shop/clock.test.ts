// The engine's clock seen from the browser, and the countdown on it.
import { describe, expect, it } from 'vitest';
import { addSample, bestOffset, engineMs, offsetOf, parseServerTime, serverNow } from '../../src/shop/lib/clock';
import { buyable, countdownWords, fmtCountdown, msToStart, salePhase, splitDuration } from '../../src/shop/lib/countdown';

const HOUR = 3_600_000;

describe('clock offset from FlashSale-Server-Time', () => {
  it('reads the header: Unix ms, nothing else', () => {
    expect(parseServerTime('1796033031968')).toBe(1796033031968);
    expect(parseServerTime(' 42 ')).toBe(42);
    for (const bad of [null, undefined, '', 'soon', '1.5', '-3', 'Mon, 30 Nov 2026 10:03:51 GMT']) expect(parseServerTime(bad)).toBeNull();
  });

  it('takes the engine as having read its clock half-way through the round trip', () => {
    // sent at 1000, answered at 1200 (round trip 200 ms); the engine said 1100 + 1 h
    expect(offsetOf({ sentAt: 1000, receivedAt: 1200, serverMs: 1100 + HOUR })).toBe(HOUR);
    // a phone 30 s ahead of the engine
    expect(offsetOf({ sentAt: 50_000, receivedAt: 50_040, serverMs: 20_020 })).toBe(-30_000);
  });

  it('trusts the sample with the shortest round trip among the recent ones', () => {
    let samples = addSample([], { sentAt: 0, receivedAt: 2000, serverMs: 5000 }); // ±1 s: says +4 s
    samples = addSample(samples, { sentAt: 10_000, receivedAt: 10_020, serverMs: 13_010 }); // ±10 ms: says +3 s
    samples = addSample(samples, { sentAt: 20_000, receivedAt: 20_400, serverMs: 23_500 }); // ±200 ms: says +3.3 s
    expect(bestOffset(samples)).toBe(3000);
    expect(bestOffset([])).toBe(0);
  });

  it('keeps the last 8 samples and ignores impossible ones', () => {
    let samples: ReturnType<typeof addSample> = [];
    for (let i = 0; i < 12; i++) samples = addSample(samples, { sentAt: i, receivedAt: i + 1, serverMs: i });
    expect(samples).toHaveLength(8);
    expect(samples[0].sentAt).toBe(4);
    expect(addSample(samples, { sentAt: 5, receivedAt: 4, serverMs: 1 })).toHaveLength(8);
    expect(serverNow(HOUR, 1000)).toBe(HOUR + 1000);
  });
});

describe('countdown', () => {
  it('splits and rounds seconds up, so 00:00:00 means started', () => {
    expect(splitDuration(0)).toEqual({ days: 0, hours: 0, minutes: 0, seconds: 0 });
    expect(splitDuration(1)).toEqual({ days: 0, hours: 0, minutes: 0, seconds: 1 });
    expect(splitDuration(-500).seconds).toBe(0);
    expect(splitDuration(90_061_000)).toEqual({ days: 1, hours: 1, minutes: 1, seconds: 1 });
    expect(fmtCountdown(5_200)).toBe('00:00:06');
    expect(fmtCountdown(3 * HOUR + 4 * 60_000 + 5_000)).toBe('03:04:05');
    expect(fmtCountdown(2 * 86_400_000 + 1000)).toBe('2d 00:00:01');
    expect(fmtCountdown(95_000, true)).toBe('01:35');
  });

  it('says it in words for screen readers', () => {
    expect(countdownWords(1_000)).toBe('1 second');
    expect(countdownWords(HOUR + 2 * 60_000 + 5_000)).toBe('1 hour 2 minutes 5 seconds');
    expect(countdownWords(0)).toBe('0 seconds');
  });

  it("counts down on the engine's clock, not the phone's", () => {
    const start = Date.parse('2026-11-30T10:00:00.000Z');
    const sale = { status: 'scheduled', starts_at: '2026-11-30T10:00:00.000Z', ends_at: null };
    // the phone's clock is an hour ahead of the engine: uncorrected, the sale would look started
    const phoneNow = start - 6_000 + HOUR;
    const offset = -HOUR;
    expect(salePhase(sale, phoneNow)).toBe('open');
    expect(salePhase(sale, serverNow(offset, phoneNow))).toBe('upcoming');
    expect(msToStart(sale, serverNow(offset, phoneNow))).toBe(6_000);
    // and at the start it is open, without the engine saying so yet
    expect(salePhase(sale, serverNow(offset, phoneNow + 6_000))).toBe('open');
    expect(msToStart(sale, serverNow(offset, phoneNow + 6_000))).toBe(0);
  });

  it('tells what a buyer can do in each status', () => {
    const at = (status: string, extra = {}) => salePhase({ status, starts_at: null, ends_at: null, ...extra }, 1000);
    expect(at('active')).toBe('open');
    expect(at('scheduled')).toBe('waiting');
    expect(at('sold_out')).toBe('sold_out');
    expect(at('paused')).toBe('paused');
    expect(at('ended')).toBe('ended');
    expect(at('active', { ends_at: new Date(500).toISOString() })).toBe('ended');
    expect(['open', 'sold_out', 'upcoming', 'waiting', 'paused', 'ended'].filter((p) => buyable(p as never))).toEqual(['open', 'sold_out']);
    expect(msToStart({ status: 'active', starts_at: null }, 0)).toBeNull();
    expect(engineMs('nope')).toBeNull();
  });
});
