//! The rings' own cost per frame, with an in-memory stand-in for the NIC:
//! no device, no syscalls, no emulator. What is measured is the driver's
//! bookkeeping: descriptor writes, RS per batch, DD checks, reclaim, refill.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use zcnic_ring::{LegacyRxDesc, RxCompletion, RxRing, RxStatus, TxDesc, TxRing, TxStatus, VecMemory};

const RING: u16 = 512;
const BATCHES: [u16; 4] = [1, 8, 32, 128];

/// TX: push a batch, close it (RS + tail), the "NIC" completes it (DD on the
/// batch end), reclaim.
fn tx_ring(c: &mut Criterion) {
    let mut g = c.benchmark_group("tx_ring");
    for batch in BATCHES {
        g.throughput(Throughput::Elements(u64::from(batch)));
        g.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            let mut mem = VecMemory::<TxDesc>::new(usize::from(RING));
            let mut ring = TxRing::new(RING).unwrap();
            let mut addr = 0x20_0000u64;
            b.iter(|| {
                for _ in 0..batch {
                    addr = addr.wrapping_add(2048);
                    ring.push(&mut mem, TxDesc::single_buffer_frame(addr, 1514)).unwrap();
                }
                let tail = ring.close_batch(&mut mem).unwrap();
                // The stand-in NIC: DD on the batch's last descriptor.
                let last = (usize::from(tail) + usize::from(RING) - 1) % usize::from(RING);
                mem.descs[last].status |= TxStatus::DD;
                black_box(ring.reclaim(&mem));
            });
        });
    }
    g.finish();
}

/// RX: the "NIC" completes a batch of descriptors; the driver collects them
/// (checking each write-back) and refills with one tail update.
fn rx_ring(c: &mut Criterion) {
    let mut g = c.benchmark_group("rx_ring");
    for batch in BATCHES {
        g.throughput(Throughput::Elements(u64::from(batch)));
        g.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            let mut mem = VecMemory::<LegacyRxDesc>::new(usize::from(RING));
            let mut ring = RxRing::new(RING, 2048).unwrap();
            let iova = |slot: u16| 0x40_0000 + u64::from(slot) * 2048;
            ring.init(&mut mem, iova);
            let mut head = 0usize;
            b.iter(|| {
                for _ in 0..batch {
                    let d = &mut mem.descs[head];
                    d.length = 1514;
                    d.status = RxStatus::DD | RxStatus::EOP;
                    head = (head + 1) % usize::from(RING);
                }
                let mut bytes = 0u64;
                while let Some(c) = ring.next_completed(&mem) {
                    if let RxCompletion::Frame { len, .. } = c {
                        bytes += u64::from(len);
                    }
                }
                black_box(bytes);
                black_box(ring.refill(&mut mem, iova));
            });
        });
    }
    g.finish();
}

criterion_group!(benches, tx_ring, rx_ring);
criterion_main!(benches);
