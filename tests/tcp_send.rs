//! `zcnic send --tcp` to a stock listener (busybox `nc -l`) on the guest
//! kernel's own TCP: the file arrives intact and the command exits 0 only
//! once every byte is acknowledged; a port nobody listens on refuses.

mod testbed;

use std::path::PathBuf;

use testbed::{sha256_hex, Guest, Kernel, KERNEL_PEER_SETUP};

#[test]
fn a_file_sent_over_tcp_to_nc_arrives_intact() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tcp-send");
    std::fs::create_dir_all(&dir).unwrap();
    let data: Vec<u8> = (0..3_000_017u32).map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8).collect();
    std::fs::write(dir.join("f.bin"), &data).unwrap();
    let want = sha256_hex(&data);
    let command = format!(
        "{KERNEL_PEER_SETUP}\n\
         nc -l -p 9000 < /dev/null > /tmp/out & np=$!; sleep 0.5\n\
         echo '=== send'; zcnic send --tcp --pci $NIC0 --src 10.0.0.1 --dst 10.0.0.2:9000 --file /data/f.bin; echo \"exit=$?\"\n\
         wait $np; sha256sum /tmp/out\n\
         echo '=== refused'; zcnic send --tcp --pci $NIC0 --src 10.0.0.1 --dst 10.0.0.2:9001 --dst-mac 52:54:00:12:34:51 --file /data/f.bin; echo \"exit=$?\"\n\
         echo '=== end'"
    );
    let run = Guest::new("tcp-send")
        .kernel(Kernel::Full)
        .unbound()
        .nic("e1000")
        .nic("e1000")
        .file(&dir.join("f.bin"), "/data/f.bin")
        .run(&command);
    run.assert_status(0);
    let out = &run.output;
    let send = out.split("=== send").nth(1).unwrap();
    assert!(send.contains("exit=0") && send.contains("every byte acknowledged"), "{send}");
    assert!(send.contains(&format!("{want}  /tmp/out")), "the listener got the file intact:\n{send}");
    let refused = out.split("=== refused").nth(1).unwrap();
    assert!(refused.contains("exit=1") && refused.contains("reset the connection"), "{refused}");
}

/// `send --tcp --queues 2` on the igb, in a 2-vCPU guest: two connections,
/// one per queue and thread, to two `nc -l`; each connection's local port is
/// picked so that RSS brings its ACKs back to its own queue; the two parts
/// put together are the file.
#[test]
fn a_file_sent_over_two_tcp_connections_from_two_igb_queues_arrives_intact() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tcp-send-2q");
    std::fs::create_dir_all(&dir).unwrap();
    let data: Vec<u8> = (0..3_000_017u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8).collect();
    std::fs::write(dir.join("f.bin"), &data).unwrap();
    let want = sha256_hex(&data);
    let command = format!(
        "{KERNEL_PEER_SETUP}\n\
         nc -l -p 9000 < /dev/null > /tmp/out0 & n0=$!; nc -l -p 9001 < /dev/null > /tmp/out1 & n1=$!; sleep 0.5\n\
         echo '=== send'; zcnic send --tcp --queues 2 --pci $NIC0 --src 10.0.0.1 --dst 10.0.0.2:9000 --file /data/f.bin; echo \"exit=$?\"\n\
         wait $n0 $n1; cat /tmp/out0 /tmp/out1 | sha256sum\n\
         echo '=== end'"
    );
    let run = Guest::new("tcp-send-2q")
        .kernel(Kernel::Full)
        .unbound()
        .smp(2)
        .nic("igb")
        .nic("igb")
        .file(&dir.join("f.bin"), "/data/f.bin")
        .run(&command);
    run.assert_status(0);
    let send = run.output.split("=== send").nth(1).unwrap();
    assert!(send.contains("exit=0") && send.contains("every byte acknowledged"), "{send}");
    for q in 0..2 {
        assert!(send.contains(&format!("on queue {q} (thread on CPU {q})")), "{send}");
    }
    assert!(send.contains(&format!("{want}  -")), "the two parts together are the file:\n{send}");
}
