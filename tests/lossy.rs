//! `zcnic serve` over a lossy, reordering link (a relay on the host between
//! the two NICs' UDP netdevs drops a seeded fraction of the frames and holds
//! some behind the next): files still arrive intact at the guest kernel's
//! wget, and the server's retransmissions show in its summary.

mod testbed;

use std::path::PathBuf;

use testbed::{sha256_hex, Guest, Kernel, LossyLink, KERNEL_PEER_SETUP};

fn fetch_over_a_lossy_link(name: &str, base: u16, loss: f64, len: usize) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    let data: Vec<u8> = (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8).collect();
    std::fs::write(www.join("f.bin"), &data).unwrap();
    let want = sha256_hex(&data);
    let link = LossyLink::start(base, loss, loss, base as u64);
    let command = format!(
        "{KERNEL_PEER_SETUP}\n\
         zcnic serve --pci $NIC0 --ip 10.0.0.1/24 --root /data/www > /tmp/serve.log 2>&1 & sp=$!; sleep 1\n\
         echo '=== fetch'; timeout 240 wget -q -O /tmp/f http://10.0.0.1/f.bin; echo \"exit=$?\"; sha256sum /tmp/f\n\
         kill -INT $sp; wait $sp; echo '=== summary'; cat /tmp/serve.log"
    );
    let run = Guest::new(name)
        .kernel(Kernel::Full)
        .unbound()
        .nic("e1000")
        .nic("e1000")
        .udp_link(base)
        .file(&www, "/data/www")
        .timeout(400)
        .run(&command);
    let (seen, dropped, reordered) = link.counts();
    drop(link);
    run.assert_status(0);
    let out = &run.output;
    let fetch = out.split("=== fetch").nth(1).unwrap();
    assert!(fetch.contains("exit=0") && fetch.contains(&want), "the file arrived changed or not at all:\n{fetch}");
    assert!(dropped > 0 && reordered > 0, "the link did drop ({dropped}) and reorder ({reordered}) of {seen} frames");
    let summary = out.split("=== summary").nth(1).unwrap();
    let retransmitted: u64 = summary
        .split(" segments retransmitted")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no retransmission count in:\n{summary}"));
    assert!(retransmitted > 0, "losses were repaired by retransmissions:\n{summary}");
}

#[test]
fn one_percent_loss() {
    fetch_over_a_lossy_link("lossy-1", 41000, 0.01, 3 * 1024 * 1024 + 7);
}

#[test]
fn five_percent_loss() {
    fetch_over_a_lossy_link("lossy-5", 41100, 0.05, 1024 * 1024 + 3);
}
