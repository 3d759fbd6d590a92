//! The zero-copy TX path's CPU cost per frame, without the emulator: the
//! frame builder (42 bytes of Ethernet/IPv4/UDP headers with the checksum
//! seed) plus the TX ring (header + payload descriptors, RS once per batch,
//! reclaim by DD) against an in-memory stand-in for the NIC. The payload is
//! never touched, exactly as in `zcnic send`.

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use zcnic_driver::net::udp::{UdpFlow, HEADERS_LEN, MAX_PAYLOAD};
use zcnic_driver::MacAddress;
use zcnic_ring::{TxDesc, TxPopts, TxRing, TxStatus, VecMemory};

const RING: u16 = 512;

fn tx_path(c: &mut Criterion) {
    let flow = UdpFlow {
        src_mac: MacAddress([0x52, 0x54, 0, 0x12, 0x34, 0x50]),
        dst_mac: MacAddress([0x52, 0x54, 0, 0x12, 0x34, 0x51]),
        src_ip: Ipv4Addr::new(10, 0, 0, 1),
        dst_ip: Ipv4Addr::new(10, 0, 0, 2),
        src_port: 47000,
        dst_port: 9000,
    };
    let mut g = c.benchmark_group("zero_copy_tx_path");
    for batch in [1u16, 8, 32, 128] {
        g.throughput(Throughput::Elements(u64::from(batch)));
        g.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            let mut mem = VecMemory::<TxDesc>::new(usize::from(RING));
            let mut ring = TxRing::new(RING).unwrap();
            // Header buffers: one per slot, as in the driver.
            let mut headers = vec![0u8; usize::from(RING) * 2048];
            let mut seq = 0u64;
            let popts = TxPopts::IXSM | TxPopts::TXSM;
            b.iter(|| {
                for _ in 0..batch {
                    let slot = usize::from(ring.next_slot().unwrap());
                    let h = &mut headers[slot * 2048..slot * 2048 + HEADERS_LEN];
                    flow.write_offload_headers(h, MAX_PAYLOAD, seq as u16);
                    let header_iova = 0x20_0000 + (slot as u64) * 2048;
                    ring.push(&mut mem, TxDesc::extended_data(header_iova, HEADERS_LEN as u16, false, popts));
                    let payload_iova = 0x4000_0000 + seq * MAX_PAYLOAD as u64;
                    ring.push(&mut mem, TxDesc::extended_data(payload_iova, MAX_PAYLOAD as u16, true, popts));
                    seq += 1;
                }
                let tail = ring.close_batch(&mut mem).unwrap();
                let last = (usize::from(tail) + usize::from(RING) - 1) % usize::from(RING);
                mem.descs[last].status |= TxStatus::DD;
                black_box(ring.reclaim(&mem));
            });
        });
    }
    g.finish();
}

criterion_group!(benches, tx_path);
criterion_main!(benches);
