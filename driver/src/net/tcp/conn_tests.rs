//! Unit tests of the connection state machine, one rule each: the test plays
//! the peer by hand, segment by segment.

use std::time::Duration;

use super::config::TcpConfig;
use super::conn::{Conn, Event, State};
use super::segment::OutSegment;
use super::wire::{Flags, Options, TcpHeader};

const US: u16 = 80;
const THEM: u16 = 50000;
/// Our ISS, close to the wrap so every test crosses it.
const ISS: u32 = 0xffff_fff0;
const PEER_ISS: u32 = 7_000_000;
const MSS: u64 = 1460;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg() -> TcpConfig {
    TcpConfig { rto_min: ms(200), rto_initial: ms(1000), msl: ms(5000), ..TcpConfig::default() }
}

fn poll(c: &mut Conn, now: Duration) -> Vec<OutSegment> {
    let mut out = Vec::new();
    c.poll(now, &mut out);
    out
}

fn poll_one(c: &mut Conn, now: Duration) -> OutSegment {
    let out = poll(c, now);
    assert_eq!(out.len(), 1, "expected one segment, got {out:#?}");
    out.into_iter().next().unwrap()
}

/// The peer's side of a hand-played connection.
struct Peer {
    /// Its next sequence number.
    seq: u32,
    /// What it acknowledges.
    ack: u32,
    window: u16,
}

impl Peer {
    fn header(&self, flags: Flags) -> TcpHeader {
        TcpHeader {
            src_port: THEM,
            dst_port: US,
            seq: self.seq,
            ack: self.ack,
            flags,
            window: self.window,
            ..TcpHeader::default()
        }
    }

    /// Send a segment with `flags` and `payload`, advancing its sequence.
    fn send(&mut self, c: &mut Conn, now: Duration, flags: Flags, payload: &[u8]) {
        let h = self.header(flags);
        c.on_segment(now, &h, payload);
        self.seq = self.seq.wrapping_add(payload.len() as u32 + u32::from(flags.contains(Flags::FIN)));
    }

    /// Acknowledge stream offset `offset` (all bytes below it).
    fn ack_offset(&mut self, c: &mut Conn, now: Duration, offset: u64) {
        self.ack = ISS.wrapping_add(1).wrapping_add(offset as u32);
        self.send(c, now, Flags::ACK, &[]);
    }
}

/// A connection opened passively, with the peer's SYN options.
fn accept_with(options: Options, window: u16) -> (Conn, Peer) {
    let mut c = Conn::listen(&cfg(), US, ISS);
    let mut peer = Peer { seq: PEER_ISS, ack: 0, window };
    let syn = TcpHeader { options, ..peer.header(Flags::SYN) };
    c.on_segment(ms(0), &syn, &[]);
    peer.seq = peer.seq.wrapping_add(1);
    let synack = poll_one(&mut c, ms(0));
    assert_eq!(synack.flags, Flags::SYN | Flags::ACK);
    peer.ack = synack.seq.wrapping_add(1);
    peer.send(&mut c, ms(10), Flags::ACK, &[]);
    assert_eq!(c.state(), State::Established);
    (c, peer)
}

/// Established with a peer that offered MSS 1460 and window scale 0 and a
/// 64 KiB window.
fn established() -> (Conn, Peer) {
    accept_with(Options { mss: Some(1460), window_scale: Some(0), ..Options::default() }, 65535)
}

fn stream_offset(seq: u32) -> u64 {
    u64::from(seq.wrapping_sub(ISS.wrapping_add(1)))
}

// ---- handshakes and negotiation ------------------------------------------

#[test]
fn passive_open_answers_syn_with_syn_ack_and_negotiates() {
    let mut c = Conn::listen(&cfg(), US, ISS);
    let syn = TcpHeader {
        src_port: THEM,
        dst_port: US,
        seq: PEER_ISS,
        flags: Flags::SYN,
        window: 29200,
        options: Options { mss: Some(1000), window_scale: Some(7), sack_permitted: true, ..Options::default() },
        ..TcpHeader::default()
    };
    c.on_segment(ms(0), &syn, &[]);
    assert_eq!(c.state(), State::SynReceived);
    let sa = poll_one(&mut c, ms(0));
    assert_eq!(sa.flags, Flags::SYN | Flags::ACK);
    assert_eq!((sa.seq, sa.ack), (ISS, PEER_ISS + 1));
    assert_eq!((sa.src_port, sa.dst_port), (US, THEM));
    assert_eq!(sa.options.mss, Some(1460), "MSS from the 1500-byte MTU");
    assert_eq!(sa.options.window_scale, Some(3), "256 KiB buffer needs shift 3");
    assert!(!sa.options.sack_permitted, "we do not do SACK");
    assert_eq!(sa.window, 65535, "a SYN's window is not scaled");
    assert_eq!(c.mss(), 1000, "the peer's smaller MSS wins");
    let ack = TcpHeader { seq: PEER_ISS + 1, ack: ISS.wrapping_add(1), flags: Flags::ACK, window: 1000, ..syn };
    c.on_segment(ms(20), &ack, &[]);
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.take_events().first(), Some(&Event::Established));
    assert_eq!(c.window_shifts(), (7, 3));
    assert_eq!(c.peer_window(), 1000 << 7, "windows after the SYN are scaled");
    c.extend_stream(10);
    let data = poll_one(&mut c, ms(20));
    assert_eq!(data.window, ((256 * 1024) >> 3) as u16, "our window scaled by our shift");
}

#[test]
fn without_the_peers_window_scale_neither_side_scales() {
    let (mut c, _) = accept_with(Options { mss: Some(1460), ..Options::default() }, 1000);
    assert_eq!(c.window_shifts(), (0, 0));
    assert_eq!(c.peer_window(), 1000);
    c.extend_stream(1);
    let s = poll_one(&mut c, ms(20));
    assert_eq!(s.window, 65535, "the 256 KiB buffer clipped to 16 bits");
}

#[test]
fn without_an_mss_option_the_peer_gets_536() {
    let (c, _) = accept_with(Options::default(), 65535);
    assert_eq!(c.mss(), 536);
}

#[test]
fn active_open_sends_syn_and_completes_on_syn_ack() {
    let mut c = Conn::connect(&cfg(), 40000, 8080, ISS);
    assert_eq!(c.state(), State::SynSent);
    let syn = poll_one(&mut c, ms(0));
    assert_eq!(syn.flags, Flags::SYN, "no ACK on the first SYN");
    assert_eq!(syn.seq, ISS);
    assert_eq!(syn.options.mss, Some(1460));
    assert_eq!(syn.options.window_scale, Some(3));
    let synack = TcpHeader {
        src_port: 8080,
        dst_port: 40000,
        seq: PEER_ISS,
        ack: ISS.wrapping_add(1),
        flags: Flags::SYN | Flags::ACK,
        window: 8192,
        options: Options { mss: Some(1200), window_scale: Some(2), ..Options::default() },
        ..TcpHeader::default()
    };
    c.on_segment(ms(30), &synack, &[]);
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.mss(), 1200);
    assert_eq!(c.window_shifts(), (2, 3));
    assert_eq!(c.peer_window(), 8192, "the SYN-ACK's window is not scaled");
    assert_eq!(c.stats().rtt_samples, 1, "the handshake times the SYN");
    let ack = poll_one(&mut c, ms(30));
    assert_eq!((ack.flags, ack.seq, ack.ack), (Flags::ACK, ISS.wrapping_add(1), PEER_ISS + 1));
}

#[test]
fn a_lost_syn_is_retransmitted_with_backoff_then_the_open_fails() {
    let config = TcpConfig { syn_retries: 2, ..cfg() };
    let mut c = Conn::connect(&config, 40000, 8080, ISS);
    poll_one(&mut c, ms(0));
    assert_eq!(c.next_deadline(), Some(ms(1000)));
    let again = poll_one(&mut c, ms(1000));
    assert!(again.flags.contains(Flags::SYN) && again.retransmission);
    assert_eq!(c.next_deadline(), Some(ms(3000)), "RTO doubled");
    poll_one(&mut c, ms(3000));
    assert!(poll(&mut c, ms(7000)).is_empty(), "no RST from SYN-SENT");
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.take_events(), vec![Event::TimedOut, Event::Closed]);
}

#[test]
fn peer_syn_again_in_syn_received_resends_syn_ack_at_once() {
    let mut c = Conn::listen(&cfg(), US, ISS);
    let syn = TcpHeader { src_port: THEM, dst_port: US, seq: PEER_ISS, flags: Flags::SYN, ..TcpHeader::default() };
    c.on_segment(ms(0), &syn, &[]);
    poll_one(&mut c, ms(0));
    c.on_segment(ms(300), &syn, &[]);
    let sa = poll_one(&mut c, ms(300));
    assert_eq!(sa.flags, Flags::SYN | Flags::ACK);
    assert!(sa.retransmission);
}

// ---- resets ----------------------------------------------------------------

#[test]
fn listen_resets_an_ack_and_ignores_a_rst() {
    let mut c = Conn::listen(&cfg(), US, ISS);
    let peer = Peer { seq: 5, ack: 12345, window: 100 };
    c.on_segment(ms(0), &peer.header(Flags::RST), &[]);
    assert!(poll(&mut c, ms(0)).is_empty());
    c.on_segment(ms(0), &peer.header(Flags::ACK), &[]);
    let r = poll_one(&mut c, ms(0));
    assert_eq!((r.flags, r.seq), (Flags::RST, 12345));
    assert_eq!(c.state(), State::Listen);
}

#[test]
fn syn_sent_resets_a_bad_ack_and_accepts_a_rst_that_acks_the_syn() {
    let mut c = Conn::connect(&cfg(), 40000, 8080, ISS);
    poll_one(&mut c, ms(0));
    let bad = TcpHeader {
        src_port: 8080,
        dst_port: 40000,
        seq: 1,
        ack: ISS.wrapping_add(77),
        flags: Flags::SYN | Flags::ACK,
        ..TcpHeader::default()
    };
    c.on_segment(ms(1), &bad, &[]);
    let r = poll_one(&mut c, ms(1));
    assert_eq!((r.flags, r.seq), (Flags::RST, ISS.wrapping_add(77)));
    assert_eq!(c.state(), State::SynSent);
    // A RST without an acceptable ACK is ignored, one with it refuses.
    c.on_segment(ms(2), &TcpHeader { flags: Flags::RST, ..bad }, &[]);
    assert_eq!(c.state(), State::SynSent);
    let refused = TcpHeader { ack: ISS.wrapping_add(1), flags: Flags::RST | Flags::ACK, ..bad };
    c.on_segment(ms(3), &refused, &[]);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.take_events(), vec![Event::Reset, Event::Closed]);
}

#[test]
fn rst_at_rcv_nxt_resets_in_window_gets_a_challenge_ack_outside_is_ignored() {
    let (mut c, mut peer) = established();
    c.take_events();
    // In the window but not exact (RFC 5961 3.2): challenge ACK.
    peer.seq += 100;
    peer.send(&mut c, ms(20), Flags::RST, &[]);
    assert_eq!(c.state(), State::Established);
    let ch = poll_one(&mut c, ms(20));
    assert_eq!((ch.flags, ch.ack), (Flags::ACK, PEER_ISS + 1));
    // Outside the window: silently dropped.
    peer.seq = PEER_ISS.wrapping_sub(10_000);
    peer.send(&mut c, ms(21), Flags::RST, &[]);
    assert!(poll(&mut c, ms(21)).is_empty());
    // Exactly RCV.NXT: reset.
    peer.seq = PEER_ISS + 1;
    peer.send(&mut c, ms(22), Flags::RST, &[]);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.take_events(), vec![Event::Reset, Event::Closed]);
    assert!(poll(&mut c, ms(22)).is_empty(), "a RST is never answered");
}

#[test]
fn syn_in_established_gets_a_challenge_ack() {
    let (mut c, mut peer) = established();
    peer.send(&mut c, ms(20), Flags::SYN, &[]);
    assert_eq!(c.state(), State::Established);
    let ch = poll_one(&mut c, ms(20));
    assert_eq!(ch.flags, Flags::ACK);
}

#[test]
fn closed_conn_resets_whatever_arrives() {
    let (mut c, mut peer) = established();
    c.abort();
    let r = poll_one(&mut c, ms(20));
    assert_eq!(r.flags, Flags::RST);
    assert_eq!(r.seq, ISS.wrapping_add(1), "at SND.NXT, which the peer expects");
    peer.send(&mut c, ms(21), Flags::ACK, b"x");
    let r = poll_one(&mut c, ms(21));
    assert_eq!((r.flags, r.seq), (Flags::RST, peer.ack));
}

#[test]
fn syn_received_resets_an_ack_for_something_else() {
    let mut c = Conn::listen(&cfg(), US, ISS);
    let syn = TcpHeader { src_port: THEM, dst_port: US, seq: PEER_ISS, flags: Flags::SYN, ..TcpHeader::default() };
    c.on_segment(ms(0), &syn, &[]);
    poll_one(&mut c, ms(0));
    let bad = TcpHeader { seq: PEER_ISS + 1, ack: ISS.wrapping_add(900), flags: Flags::ACK, ..syn };
    c.on_segment(ms(1), &bad, &[]);
    let r = poll_one(&mut c, ms(1));
    assert_eq!((r.flags, r.seq), (Flags::RST, ISS.wrapping_add(900)));
    assert_eq!(c.state(), State::SynReceived);
}

// ---- receiving -------------------------------------------------------------

#[test]
fn in_order_data_is_delivered_and_acked_out_of_order_dropped_with_dup_ack() {
    let (mut c, mut peer) = established();
    c.take_events();
    peer.send(&mut c, ms(20), Flags::ACK | Flags::PSH, b"GET / HTTP/1.1\r\n");
    assert_eq!(c.take_events(), vec![Event::DataReceived]);
    let a = poll_one(&mut c, ms(20));
    assert_eq!(a.ack, PEER_ISS + 1 + 16);
    // A segment after a hole: dropped, ACK repeats RCV.NXT.
    let hole_at = peer.seq;
    peer.seq += 10;
    peer.send(&mut c, ms(21), Flags::ACK, b"later");
    let dup = poll_one(&mut c, ms(21));
    assert_eq!(dup.ack, hole_at);
    assert_eq!(c.readable(), 16);
    // The hole's retransmission overlapping what we have is trimmed.
    peer.seq = hole_at - 4;
    peer.send(&mut c, ms(22), Flags::ACK, b"\r\n\r\nHost");
    let a = poll_one(&mut c, ms(22));
    assert_eq!(a.ack, hole_at + 4);
    let mut buf = [0u8; 64];
    let n = c.read(&mut buf);
    assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\nHost");
}

#[test]
fn an_old_duplicate_is_answered_with_an_ack() {
    let (mut c, mut peer) = established();
    peer.send(&mut c, ms(20), Flags::ACK, b"abc");
    poll(&mut c, ms(20));
    peer.seq = PEER_ISS + 1;
    peer.send(&mut c, ms(21), Flags::ACK, b"abc");
    let a = poll_one(&mut c, ms(21));
    assert_eq!(a.ack, PEER_ISS + 4);
    assert_eq!(c.readable(), 3, "not delivered twice");
}

#[test]
fn the_receive_window_closes_as_data_waits_and_reopens_after_read() {
    let config = TcpConfig { recv_buffer: 4000, ..cfg() };
    let mut c = Conn::listen(&config, US, ISS);
    let mut peer = Peer { seq: PEER_ISS, ack: 0, window: 65535 };
    let syn = TcpHeader { options: Options { mss: Some(1460), ..Options::default() }, ..peer.header(Flags::SYN) };
    c.on_segment(ms(0), &syn, &[]);
    peer.seq += 1;
    assert_eq!(poll_one(&mut c, ms(0)).window, 4000);
    peer.ack = ISS.wrapping_add(1);
    peer.send(&mut c, ms(1), Flags::ACK, &[1; 3000]);
    assert_eq!(poll_one(&mut c, ms(1)).window, 1000);
    peer.send(&mut c, ms(2), Flags::ACK, &[2; 1500]);
    let a = poll_one(&mut c, ms(2));
    assert_eq!((a.window, a.ack), (0, PEER_ISS + 1 + 4000), "only what fits the window is taken");
    // Zero window: a probe is not taken, but answered.
    peer.send(&mut c, ms(3), Flags::ACK, &[3]);
    assert_eq!(poll_one(&mut c, ms(3)).window, 0);
    assert_eq!(c.readable(), 4000);
    let mut buf = [0u8; 2000];
    c.read(&mut buf);
    let update = poll_one(&mut c, ms(4));
    assert_eq!(update.window, 2000, "a window update once half the buffer is free");
}

// ---- closing ---------------------------------------------------------------

#[test]
fn passive_close_goes_through_close_wait_and_last_ack() {
    let (mut c, mut peer) = established();
    c.take_events();
    peer.send(&mut c, ms(20), Flags::ACK | Flags::FIN, &[]);
    assert_eq!(c.state(), State::CloseWait);
    assert_eq!(c.take_events(), vec![Event::PeerFinished]);
    assert_eq!(poll_one(&mut c, ms(20)).ack, PEER_ISS + 2, "the FIN takes a sequence number");
    c.extend_stream(100);
    c.close();
    assert_eq!(c.state(), State::LastAck);
    let s = poll_one(&mut c, ms(21));
    assert_eq!(s.flags, Flags::ACK | Flags::PSH | Flags::FIN, "FIN rides on the last data");
    assert_eq!(s.payload, 0..100);
    peer.ack_offset(&mut c, ms(30), 101);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.take_events(), vec![Event::Acked(100), Event::Closed]);
}

#[test]
fn active_close_waits_in_fin_wait_then_time_wait_for_two_msl() {
    let (mut c, mut peer) = established();
    c.close();
    assert_eq!(c.state(), State::FinWait1);
    let fin = poll_one(&mut c, ms(20));
    assert_eq!(fin.flags, Flags::ACK | Flags::FIN);
    assert_eq!(fin.payload, 0..0);
    peer.ack_offset(&mut c, ms(30), 1);
    assert_eq!(c.state(), State::FinWait2);
    peer.send(&mut c, ms(40), Flags::ACK | Flags::FIN, &[]);
    assert_eq!(c.state(), State::TimeWait);
    assert_eq!(poll_one(&mut c, ms(40)).ack, PEER_ISS + 2);
    assert_eq!(c.next_deadline(), Some(ms(40 + 10_000)), "2 MSL");
    // The peer did not get our ACK and sends FIN again: ACK, restart 2 MSL.
    peer.seq -= 1;
    peer.send(&mut c, ms(1000), Flags::ACK | Flags::FIN, &[]);
    assert_eq!(poll_one(&mut c, ms(1000)).ack, PEER_ISS + 2);
    assert_eq!(c.next_deadline(), Some(ms(11_000)));
    assert!(poll(&mut c, ms(10_999)).is_empty());
    assert_eq!(c.state(), State::TimeWait);
    poll(&mut c, ms(11_000));
    assert_eq!(c.state(), State::Closed);
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let (mut c, mut peer) = established();
    c.close();
    poll_one(&mut c, ms(20));
    peer.send(&mut c, ms(21), Flags::ACK | Flags::FIN, &[]);
    assert_eq!(c.state(), State::Closing);
    peer.ack_offset(&mut c, ms(22), 1);
    assert_eq!(c.state(), State::TimeWait);
}

#[test]
fn fin_and_ack_of_our_fin_in_one_segment_go_straight_to_time_wait() {
    let (mut c, mut peer) = established();
    c.close();
    poll_one(&mut c, ms(20));
    peer.ack = ISS.wrapping_add(2);
    peer.send(&mut c, ms(21), Flags::ACK | Flags::FIN, &[]);
    assert_eq!(c.state(), State::TimeWait);
}

#[test]
fn fin_wait_2_gives_up_after_its_timeout() {
    let config = TcpConfig { fin_wait2_timeout: ms(3000), ..cfg() };
    let (c0, mut peer) = established();
    drop(c0);
    let mut c = Conn::listen(&config, US, ISS);
    let syn = TcpHeader { seq: PEER_ISS, ..peer.header(Flags::SYN) };
    c.on_segment(ms(0), &syn, &[]);
    poll(&mut c, ms(0));
    peer.seq = PEER_ISS + 1;
    peer.ack = ISS.wrapping_add(1);
    peer.send(&mut c, ms(1), Flags::ACK, &[]);
    c.close();
    poll_one(&mut c, ms(2));
    peer.ack_offset(&mut c, ms(3), 1);
    assert_eq!(c.state(), State::FinWait2);
    poll(&mut c, ms(3003));
    assert_eq!(c.state(), State::Closed);
    assert!(c.take_events().contains(&Event::TimedOut));
}

#[test]
fn a_fin_after_a_hole_is_not_taken() {
    let (mut c, mut peer) = established();
    peer.seq += 5;
    peer.send(&mut c, ms(20), Flags::ACK | Flags::FIN, b"tail");
    assert_eq!(c.state(), State::Established);
    assert_eq!(poll_one(&mut c, ms(20)).ack, PEER_ISS + 1);
}

// ---- sending ---------------------------------------------------------------

#[test]
fn the_initial_window_goes_out_as_one_tso_send_and_acks_open_it() {
    let (mut c, mut peer) = established();
    c.take_events();
    c.extend_stream(1_000_000);
    let s = poll_one(&mut c, ms(20));
    assert_eq!(s.payload, 0..3 * MSS, "RFC 5681 initial window: 3 segments of 1460");
    assert!(s.tso);
    assert_eq!(s.mss, 1460);
    assert_eq!(s.seq, ISS.wrapping_add(1));
    assert!(!s.flags.contains(Flags::PSH), "more data follows");
    peer.ack_offset(&mut c, ms(30), MSS);
    assert_eq!(c.take_events(), vec![Event::Acked(MSS)]);
    assert_eq!(c.acked_offset(), MSS);
    assert_eq!(c.cwnd(), 4 * MSS);
    let s = poll_one(&mut c, ms(30));
    assert_eq!(s.payload, 3 * MSS..5 * MSS, "cwnd 4 less 2 in flight");
}

#[test]
fn sends_are_cut_at_the_tso_limit_in_whole_segments() {
    let (mut c, mut peer) = established();
    peer.window = 65535;
    c.extend_stream(10_000_000);
    // Grow cwnd well past 64 KiB with a run of ACKs.
    let mut now = ms(20);
    let mut acked = 0;
    for _ in 0..60 {
        for s in poll(&mut c, now) {
            acked = s.payload.end;
        }
        now += ms(1);
        peer.window = 65535; // scale 0: the window stays 64 KiB - 1
        peer.ack_offset(&mut c, now, acked);
    }
    assert!(c.cwnd() > 70_000, "cwnd past the TSO limit");
    let sends = poll(&mut c, now);
    assert!(!sends.is_empty());
    for s in &sends {
        assert!(s.payload_len() <= 65535 - 80, "{s:?}");
        assert_eq!(s.payload_len() % MSS, 0, "whole segments mid-stream");
    }
}

#[test]
fn psh_marks_the_end_of_the_available_data() {
    let (mut c, _) = established();
    c.extend_stream(100);
    let s = poll_one(&mut c, ms(20));
    assert_eq!(s.payload, 0..100);
    assert!(s.flags.contains(Flags::PSH));
    assert!(!s.tso);
}

#[test]
fn zero_window_starts_the_persist_timer_and_probes_back_off() {
    let (mut c, mut peer) = established();
    peer.window = 0;
    peer.ack_offset(&mut c, ms(20), 0);
    c.extend_stream(5000);
    assert!(poll(&mut c, ms(20)).is_empty(), "nothing fits a zero window");
    let first = c.next_deadline().expect("persist timer");
    assert_eq!(first, ms(20) + c.rto());
    let probe = poll_one(&mut c, first);
    assert_eq!(probe.payload, 0..1, "one byte beyond the window");
    // The peer still has no room and says so.
    peer.ack_offset(&mut c, first + ms(5), 0);
    assert!(poll(&mut c, first + ms(5)).is_empty());
    let second = c.next_deadline().unwrap();
    assert_eq!(second - first, c.rto() * 2, "the persist interval doubles");
    let probe = poll_one(&mut c, second);
    assert_eq!(probe.payload, 0..1);
    assert_eq!(c.stats().window_probes, 2);
    // The window opens: data flows and the persist timer stops.
    peer.window = 65535;
    peer.ack_offset(&mut c, second + ms(1), 0);
    let s = poll_one(&mut c, second + ms(1));
    assert_eq!(s.payload.start, 0);
    assert_eq!(c.next_deadline(), Some(second + ms(1) + c.rto()), "the retransmission timer, not persist");
}

#[test]
fn a_probe_the_peer_takes_moves_snd_una_past_it() {
    let (mut c, mut peer) = established();
    peer.window = 0;
    peer.ack_offset(&mut c, ms(20), 0);
    c.extend_stream(10);
    poll(&mut c, ms(20));
    let at = c.next_deadline().unwrap();
    poll_one(&mut c, at);
    peer.window = 100;
    peer.ack_offset(&mut c, at + ms(1), 1);
    assert_eq!(c.acked_offset(), 1);
    let s = poll_one(&mut c, at + ms(1));
    assert_eq!(s.payload, 1..10);
}

#[test]
fn rto_retransmits_the_same_offsets_with_exponential_backoff_then_gives_up() {
    let config = TcpConfig { max_retransmissions: 3, ..cfg() };
    let (c0, mut peer) = established();
    drop(c0);
    let mut c = Conn::listen(&config, US, ISS);
    let syn = TcpHeader {
        seq: PEER_ISS,
        options: Options { mss: Some(1460), ..Options::default() },
        ..peer.header(Flags::SYN)
    };
    c.on_segment(ms(0), &syn, &[]);
    poll(&mut c, ms(0));
    peer.seq = PEER_ISS + 1;
    peer.ack = ISS.wrapping_add(1);
    peer.send(&mut c, ms(100), Flags::ACK, &[]);
    let rto0 = c.rto();
    c.extend_stream(2 * MSS);
    let s = poll_one(&mut c, ms(100));
    assert_eq!(s.payload, 0..2 * MSS);
    let mut at = ms(100) + rto0;
    assert_eq!(c.next_deadline(), Some(at));
    for i in 0..3 {
        let r = poll_one(&mut c, at);
        assert_eq!(r.payload, 0..MSS, "go back to SND.UNA with a one-segment window");
        assert!(r.retransmission);
        assert_eq!(c.cwnd(), MSS);
        assert_eq!(c.rto(), rto0 * 2u32.pow(i + 1));
        at += c.rto();
        assert_eq!(c.next_deadline(), Some(at));
    }
    let last = poll_one(&mut c, at);
    assert_eq!(last.flags, Flags::RST, "the peer is told");
    assert_eq!(c.state(), State::Closed);
    assert!(c.take_events().contains(&Event::TimedOut));
    assert_eq!(c.stats().timeouts, 3);
}

#[test]
fn the_rto_is_capped_at_its_maximum() {
    let config = TcpConfig { rto_max: ms(4000), max_retransmissions: 20, ..cfg() };
    let mut c = Conn::connect(&config, 1, 2, ISS);
    let mut now = ms(0);
    poll(&mut c, now);
    for _ in 0..6 {
        now = c.next_deadline().unwrap();
        poll(&mut c, now);
    }
    assert_eq!(c.rto(), ms(4000));
}

#[test]
fn karn_no_sample_from_a_retransmission_and_the_backoff_stays() {
    let (mut c, mut peer) = established();
    let samples = c.stats().rtt_samples;
    c.extend_stream(MSS);
    poll_one(&mut c, ms(20));
    let at = c.next_deadline().unwrap();
    poll_one(&mut c, at);
    let backed_off = c.rto();
    // The ACK may be for either transmission: no sample, RTO stays doubled.
    peer.ack_offset(&mut c, at + ms(5), MSS);
    assert_eq!(c.stats().rtt_samples, samples);
    assert_eq!(c.rto(), backed_off);
    // Fresh data sent once gives a sample, which ends the backoff.
    c.extend_stream(MSS);
    poll_one(&mut c, at + ms(10));
    peer.ack_offset(&mut c, at + ms(60), 2 * MSS);
    assert_eq!(c.stats().rtt_samples, samples + 1);
    assert!(c.rto() < backed_off);
}

/// Open cwnd to `segments` MSS and send that many segments at once.
fn flight_of(segments: u64) -> (Conn, Peer, Duration) {
    let (mut c, mut peer) = established();
    c.extend_stream(100 * MSS);
    let mut now = ms(20);
    let mut sent = 0;
    while c.cwnd() < segments * MSS {
        for s in poll(&mut c, now) {
            sent = s.payload.end;
        }
        now += ms(1);
        peer.ack_offset(&mut c, now, sent);
    }
    (c, peer, now)
}

#[test]
fn three_dup_acks_fast_retransmit_and_newreno_partial_acks_fill_each_hole() {
    let (mut c, mut peer, now) = flight_of(10);
    let una = c.acked_offset();
    let sent: Vec<_> = poll(&mut c, now);
    let end = sent.last().unwrap().payload.end;
    assert!(end - una >= 10 * MSS);
    // Segments 0 and 2 of the flight are lost; 1, 3.. arrive: dup ACKs.
    let mut newest = end;
    for i in 0..2 {
        peer.ack_offset(&mut c, now + ms(10 + i), una);
        let out = poll(&mut c, now + ms(10 + i));
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].payload, newest..newest + MSS, "limited transmit: one new segment, no retransmission");
        newest += MSS;
    }
    let end = newest;
    peer.ack_offset(&mut c, now + ms(12), una);
    let out = poll(&mut c, now + ms(12));
    let r = &out[0];
    assert_eq!(r.payload, una..una + MSS, "the first unacked segment, once");
    assert!(r.retransmission);
    assert_eq!(c.stats().fast_retransmits, 1);
    let flight = end - una;
    assert_eq!(c.ssthresh(), flight / 2);
    // The retransmission arrives: partial ACK up to the second hole.
    peer.ack_offset(&mut c, now + ms(20), una + 2 * MSS);
    let out = poll(&mut c, now + ms(20));
    assert_eq!(out[0].payload, una + 2 * MSS..una + 3 * MSS, "NewReno: the next hole at once");
    assert_eq!(c.stats().partial_ack_retransmits, 1);
    // Everything up to `recover` acknowledged: recovery ends, cwnd deflates.
    let newest = out.last().unwrap().payload.end.max(end);
    peer.ack_offset(&mut c, now + ms(30), end);
    assert!(c.cwnd() <= c.ssthresh());
    assert!(newest >= end);
    assert_eq!(c.stats().timeouts, 0, "recovered without a timeout");
}

#[test]
fn dup_acks_need_outstanding_data_and_an_unchanged_window() {
    let (mut c, mut peer, now) = flight_of(4);
    let una = c.acked_offset();
    poll(&mut c, now);
    for i in 0..3 {
        peer.window = 60000 + i; // window updates are not duplicates
        peer.ack_offset(&mut c, now + ms(u64::from(i)), una);
    }
    assert_eq!(c.stats().fast_retransmits, 0);
    assert!(poll(&mut c, now + ms(5)).iter().all(|s| !s.retransmission));
}

#[test]
fn an_ack_for_unsent_data_is_answered_and_ignored() {
    let (mut c, mut peer) = established();
    c.extend_stream(10);
    poll(&mut c, ms(20));
    peer.ack_offset(&mut c, ms(21), 5000);
    assert_eq!(c.acked_offset(), 0);
    let a = poll_one(&mut c, ms(21));
    assert_eq!(a.flags, Flags::ACK);
}

#[test]
fn stream_offsets_map_to_sequence_numbers_across_the_wrap() {
    let (mut c, mut peer) = established();
    c.extend_stream(40);
    let s = poll_one(&mut c, ms(20));
    assert_eq!(stream_offset(s.seq), 0);
    assert!(s.seq.wrapping_add(40) < 100, "this stream crosses 2^32");
    peer.ack_offset(&mut c, ms(21), 40);
    assert_eq!(c.acked_offset(), 40);
    assert!(c.all_acked(), "all that was made available");
    c.close();
    assert!(!c.all_acked(), "now FIN is owed");
    let fin = poll_one(&mut c, ms(22));
    assert_eq!(stream_offset(fin.seq), 40);
    peer.ack_offset(&mut c, ms(23), 41);
    assert!(c.all_acked());
}

#[test]
fn a_rst_does_not_end_time_wait() {
    let (mut c, mut peer) = established();
    c.close();
    poll_one(&mut c, ms(20));
    peer.ack = ISS.wrapping_add(2);
    peer.send(&mut c, ms(21), Flags::ACK | Flags::FIN, &[]);
    assert_eq!(c.state(), State::TimeWait);
    peer.send(&mut c, ms(22), Flags::RST, &[]);
    assert_eq!(c.state(), State::TimeWait, "RFC 1337");
}

// ---- hostile input ---------------------------------------------------------

mod arbitrary_segments {
    use super::*;
    use proptest::prelude::*;

    /// A segment near the connection's numbers (so that many are
    /// acceptable), with any flags, window and a short payload.
    fn segment() -> impl Strategy<Value = (i32, i32, u8, u16, usize, u64)> {
        (-3000i32..70_000, -3000i32..70_000, any::<u8>(), any::<u16>(), 0usize..3000, 0u64..400)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever arrives, nothing panics, the acknowledged offset only
        /// grows, and no segment names stream bytes below it or beyond what
        /// was made available.
        #[test]
        fn arbitrary_segments_keep_the_send_invariants(segs in proptest::collection::vec(segment(), 1..60)) {
            let (mut c, peer) = established();
            c.extend_stream(50_000);
            let mut now = ms(20);
            let mut acked = c.acked_offset();
            for (seq_off, ack_off, flags, window, len, dt) in segs {
                now += ms(dt);
                let h = TcpHeader {
                    seq: peer.seq.wrapping_add(seq_off as u32),
                    ack: ISS.wrapping_add(1).wrapping_add(ack_off as u32),
                    flags: Flags::from_bits_retain(flags),
                    window,
                    ..peer.header(Flags::empty())
                };
                c.on_segment(now, &h, &vec![0x5a; len]);
                let before = c.acked_offset();
                prop_assert!(before >= acked, "acked offset went back from {} to {}", acked, before);
                acked = before;
                for s in poll(&mut c, now) {
                    if s.payload_len() > 0 {
                        prop_assert!(s.payload.start >= before, "{:?} below {}", s, before);
                        prop_assert!(s.payload.end <= c.stream_len(), "{:?}", s);
                        prop_assert!(s.payload_len() <= u64::from(super::super::config::TSO_MAX_PAYLOAD));
                    }
                }
                if let Some(d) = c.next_deadline() {
                    prop_assert!(d >= now || c.state() == State::Closed);
                }
                let mut buf = [0u8; 4096];
                while c.read(&mut buf) > 0 {}
            }
        }
    }
}

// ---- both ends ---------------------------------------------------------------

/// Carry every segment of `from` to `to` at once, with the payload taken
/// from `bytes` (the sender's stream) and cut at the MSS as the NIC would.
fn carry(from: &mut Conn, to: &mut Conn, now: Duration, bytes: &[u8]) -> usize {
    let segs = poll(from, now);
    for s in &segs {
        let mss = u64::from(s.mss.max(1));
        let mut at = s.payload.start;
        loop {
            let end = (at + mss).min(s.payload.end);
            let mut h = s.header();
            h.seq = s.seq.wrapping_add((at - s.payload.start) as u32);
            if end != s.payload.end {
                h.flags.remove(Flags::FIN | Flags::PSH);
            }
            to.on_segment(now, &h, &bytes[at as usize..end as usize]);
            if end == s.payload.end {
                break;
            }
            at = end;
        }
    }
    segs.len()
}

#[test]
fn a_request_and_a_response_between_two_conns() {
    let request = b"GET /file HTTP/1.1\r\nHost: zcnic\r\n\r\n".to_vec();
    let response: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut client = Conn::connect(&cfg(), 40000, US, 1);
    let mut server = Conn::listen(&cfg(), US, ISS);
    let mut now = ms(0);
    let mut got_request = Vec::new();
    let mut got_response = Vec::new();
    let mut sent_request = false;
    let mut responded = false;
    for _ in 0..10_000 {
        now += ms(1);
        let moved = carry(&mut client, &mut server, now, &request) + carry(&mut server, &mut client, now, &response);
        if client.state() == State::Established && !sent_request {
            client.extend_stream(request.len() as u64);
            sent_request = true;
        }
        let mut buf = [0u8; 8192];
        loop {
            let n = server.read(&mut buf);
            if n == 0 {
                break;
            }
            got_request.extend_from_slice(&buf[..n]);
        }
        if got_request.ends_with(b"\r\n\r\n") && !responded {
            server.extend_stream(response.len() as u64);
            server.close();
            responded = true;
        }
        loop {
            let n = client.read(&mut buf);
            if n == 0 {
                break;
            }
            got_response.extend_from_slice(&buf[..n]);
        }
        if client.state() == State::CloseWait {
            client.close();
        }
        if moved == 0 && client.state() == State::Closed && server.state() == State::TimeWait {
            break;
        }
    }
    assert_eq!(got_request, request);
    assert_eq!(got_response, response);
    assert_eq!(server.acked_offset(), response.len() as u64);
    assert_eq!(client.acked_offset(), request.len() as u64);
    assert_eq!((client.state(), server.state()), (State::Closed, State::TimeWait), "the server closed first");
    assert_eq!(server.stats().retransmitted_segments, 0);
}

#[test]
fn close_in_syn_received_sends_fin_after_the_handshake() {
    let mut c = Conn::listen(&cfg(), US, ISS);
    let mut peer = Peer { seq: PEER_ISS, ack: 0, window: 65535 };
    c.on_segment(ms(0), &peer.header(Flags::SYN), &[]);
    peer.seq += 1;
    poll_one(&mut c, ms(0));
    c.extend_stream(10);
    c.close();
    assert_eq!(c.state(), State::SynReceived);
    peer.ack = ISS.wrapping_add(1);
    peer.send(&mut c, ms(1), Flags::ACK, &[]);
    assert_eq!(c.state(), State::FinWait1);
    let s = poll_one(&mut c, ms(1));
    assert_eq!((s.payload, s.flags), (0..10, Flags::ACK | Flags::PSH | Flags::FIN));
}

#[test]
fn data_on_the_handshakes_last_ack_is_taken() {
    let mut c = Conn::listen(&cfg(), US, ISS);
    let mut peer = Peer { seq: PEER_ISS, ack: 0, window: 65535 };
    c.on_segment(ms(0), &peer.header(Flags::SYN), &[]);
    peer.seq += 1;
    poll_one(&mut c, ms(0));
    peer.ack = ISS.wrapping_add(1);
    peer.send(&mut c, ms(1), Flags::ACK | Flags::PSH, b"GET /");
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.readable(), 5);
    assert_eq!(c.take_events(), vec![Event::Established, Event::DataReceived]);
}

#[test]
fn a_rst_in_syn_received_closes() {
    let mut c = Conn::listen(&cfg(), US, ISS);
    let mut peer = Peer { seq: PEER_ISS, ack: 0, window: 65535 };
    c.on_segment(ms(0), &peer.header(Flags::SYN), &[]);
    peer.seq += 1;
    poll_one(&mut c, ms(0));
    peer.send(&mut c, ms(1), Flags::RST, &[]);
    assert_eq!(c.state(), State::Closed);
}
