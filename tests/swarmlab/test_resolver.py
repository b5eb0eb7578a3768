"""The lab nodes' NXDOMAIN resolver answers like a production resolver does for an unknown name."""

from __future__ import annotations

import threading

import dns.flags
import dns.message
import dns.query
import dns.rcode

from iklim.swarmlab.resolver import answer_forever, bind, nxdomain


def test_a_query_gets_nxdomain_with_its_id_and_question_over_udp() -> None:
    sock = bind("127.0.0.1", 0)
    port = int(sock.getsockname()[1])
    threading.Thread(target=answer_forever, args=(sock,), daemon=True).start()
    query = dns.message.make_query("redis-sentinel-3", "A")
    answer = dns.query.udp(query, "127.0.0.1", port=port, timeout=2)
    assert answer.id == query.id
    assert answer.rcode() == dns.rcode.NXDOMAIN
    assert answer.flags & dns.flags.QR and answer.flags & dns.flags.RD
    assert answer.question == query.question and not answer.answer


def test_recursion_desired_is_copied_not_invented() -> None:
    query = dns.message.make_query("x.example", "AAAA")
    query.flags &= ~dns.flags.RD
    answer = dns.message.from_wire(nxdomain(query.to_wire()) or b"")
    assert not answer.flags & dns.flags.RD and answer.rcode() == dns.rcode.NXDOMAIN


def test_malformed_messages_and_responses_get_no_answer() -> None:
    query = dns.message.make_query("redis-1", "A").to_wire()
    assert nxdomain(query[:11]) is None  # shorter than a header
    assert nxdomain(query[:-3]) is None  # question cut short
    response = nxdomain(query)
    assert response is not None and nxdomain(response) is None  # never answer an answer
