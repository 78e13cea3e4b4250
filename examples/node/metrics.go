package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rpcudp/go-rpcudp/kademlia"
	"github.com/rpcudp/go-rpcudp/rpcudp"
)

// The -metrics server: a Prometheus collector that reads the node's
// kademlia.Metrics snapshot at every scrape (the library itself imports no
// Prometheus), served on /metrics.

// desc is one metric of the collector.
func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("kademlia_"+name, help, labels, nil)
}

var _ prometheus.Collector = (*nodeCollector)(nil)

// nodeCollector turns a node's Metrics into Prometheus metrics.
type nodeCollector struct {
	metrics func() kademlia.Metrics
	table   func() kademlia.TableSnapshot

	datagrams, sendErrors, calls, retransmits, requests, cacheHits, errorReplies *prometheus.Desc
	drops, pending, running                                                      *prometheus.Desc
	bucketContacts, bucketReplacements, tableContacts, storedKeys, storedBytes   *prometheus.Desc
	lookups, lookupsFound, lookupRPCs, lookupSeconds, lookupHops                 *prometheus.Desc
	handOffNewcomers, handOffUnproved, handOffKeys, handOffBytes                 *prometheus.Desc
	handOffFailed, handOffSkipped, handOffThrottled                              *prometheus.Desc
	replies, replyBytes, replySources, republished, republishFailed              *prometheus.Desc
	lookupCopies, storesRefused                                                  *prometheus.Desc
}

func newNodeCollector(metrics func() kademlia.Metrics, table func() kademlia.TableSnapshot) *nodeCollector {
	return &nodeCollector{
		metrics:            metrics,
		table:              table,
		datagrams:          desc("datagrams_total", "UDP datagrams read and written.", "direction"),
		sendErrors:         desc("send_errors_total", "Datagram writes the socket refused."),
		calls:              desc("calls_total", "RPCs this node made, by outcome.", "outcome"),
		retransmits:        desc("retransmits_total", "Requests sent again by the retry policy."),
		requests:           desc("requests_served_total", "Requests handed to a handler."),
		cacheHits:          desc("reply_cache_hits_total", "Repeated requests answered from the reply cache."),
		errorReplies:       desc("error_replies_total", "Error replies sent."),
		drops:              desc("drops_total", "Inbound datagrams dropped, by reason.", "reason"),
		pending:            desc("pending_calls", "Calls waiting for a reply."),
		running:            desc("running_handlers", "Handlers running."),
		bucketContacts:     desc("bucket_contacts", "Contacts in each k-bucket.", "bucket", "depth"),
		bucketReplacements: desc("bucket_replacements", "Contacts in each k-bucket's replacement cache.", "bucket", "depth"),
		tableContacts:      desc("table_contacts", "Contacts in the routing table."),
		storedKeys:         desc("stored_keys", "Keys held by the node's storage."),
		storedBytes:        desc("stored_bytes", "Bytes held by the node's storage (-1: unknown)."),
		lookups:            desc("lookups_total", "Iterative lookups, by kind.", "kind"),
		lookupsFound:       desc("lookups_found_total", "Lookups that found their target, by kind.", "kind"),
		lookupRPCs:         desc("lookup_rpcs_total", "find_node and find_value requests lookups sent, by kind.", "kind"),
		lookupSeconds:      desc("lookup_duration_seconds", "Duration of iterative lookups, by kind.", "kind"),
		lookupHops:         desc("lookup_hops", "Hops of iterative lookups, by kind.", "kind"),
		lookupCopies:       desc("lookup_bad_copies_total", "Copies value lookups were answered that were invalid or stale.", "why"),
		storesRefused:      desc("stores_refused_total", "Store requests refused (by the value's validator, the sender's quota or an unanswered ping), by reason.", "reason"),
		handOffNewcomers:   desc("handoff_newcomers_total", "Newly seen contacts that had keys to be handed."),
		handOffUnproved:    desc("handoff_unproved_total", "Newcomers that did not answer the ping a hand-off starts with."),
		handOffKeys:        desc("handoff_keys_total", "Keys handed to newcomers."),
		handOffBytes:       desc("handoff_bytes_total", "Bytes of the hand-off stores."),
		handOffFailed:      desc("handoff_failed_total", "Hand-off stores that failed."),
		handOffSkipped:     desc("handoff_skipped_total", "Keys left to the republish by the hand-off bounds."),
		handOffThrottled:   desc("handoff_throttled_total", "Newcomers not handed keys because the hand-off budget was spent."),
		replies:            desc("reply_budget_answers_total", "Answers the per-source reply budget let go or dropped.", "decision"),
		replyBytes:         desc("reply_budget_bytes_total", "Bytes of the answers the reply budget let go or dropped.", "decision"),
		replySources:       desc("reply_budget_sources", "Source addresses the reply budget tracks."),
		republished:        desc("republished_keys_total", "Keys republished, by kind (hourly, original).", "kind"),
		republishFailed:    desc("republish_failed_total", "Republishes that failed."),
	}
}

// Describe implements prometheus.Collector.
func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.datagrams, c.sendErrors, c.calls, c.retransmits, c.requests, c.cacheHits, c.errorReplies,
		c.drops, c.pending, c.running, c.bucketContacts, c.bucketReplacements, c.tableContacts,
		c.storedKeys, c.storedBytes, c.lookups, c.lookupsFound, c.lookupRPCs, c.lookupSeconds, c.lookupHops,
		c.handOffNewcomers, c.handOffUnproved, c.handOffKeys, c.handOffBytes, c.handOffFailed,
		c.handOffSkipped, c.handOffThrottled, c.replies, c.replyBytes, c.replySources, c.republished, c.republishFailed,
		c.lookupCopies, c.storesRefused,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one snapshot per scrape.
func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.metrics()
	c.collectRPC(ch, m.RPC)
	c.collectTable(ch, m)
	for kind, l := range map[string]kademlia.LookupMetrics{"node": m.NodeLookups, "value": m.ValueLookups} {
		counter(ch, c.lookups, l.Count, kind)
		counter(ch, c.lookupsFound, l.Found, kind)
		counter(ch, c.lookupRPCs, l.RPCs, kind)
		histogram(ch, c.lookupSeconds, l.Seconds, kind)
		histogram(ch, c.lookupHops, l.Hops, kind)
	}
	h := m.HandOff
	counter(ch, c.handOffNewcomers, h.Newcomers)
	counter(ch, c.handOffUnproved, h.Unproved)
	counter(ch, c.handOffKeys, h.Keys)
	counter(ch, c.handOffBytes, h.Bytes)
	counter(ch, c.handOffFailed, h.Failed)
	counter(ch, c.handOffSkipped, h.Skipped)
	counter(ch, c.handOffThrottled, h.Throttled)
	r := m.Replies
	counter(ch, c.replies, r.Sent, "sent")
	counter(ch, c.replies, r.Dropped, "dropped")
	counter(ch, c.replyBytes, r.SentBytes, "sent")
	counter(ch, c.replyBytes, r.DroppedBytes, "dropped")
	gauge(ch, c.replySources, float64(r.Sources))
	counter(ch, c.republished, m.Republish.Keys, "hourly")
	counter(ch, c.republished, m.Republish.Originals, "original")
	counter(ch, c.republishFailed, m.Republish.Failed)
	counter(ch, c.lookupCopies, m.ValueLookups.Invalid, "invalid")
	counter(ch, c.lookupCopies, m.ValueLookups.Stale, "stale")
	f := m.Refused
	for reason, v := range map[string]uint64{
		"bad_record": f.BadRecord, "bad_signature": f.BadSignature, "stale": f.Stale, "seq_conflict": f.SeqConflict,
		"quota": f.Quota, "unproved": f.Unproved,
	} {
		counter(ch, c.storesRefused, v, reason)
	}
}

func (c *nodeCollector) collectRPC(ch chan<- prometheus.Metric, s rpcudp.Stats) {
	counter(ch, c.datagrams, s.DatagramsIn, "in")
	counter(ch, c.datagrams, s.DatagramsOut, "out")
	counter(ch, c.sendErrors, s.SendErrors)
	counter(ch, c.calls, s.CallsOK, "ok")
	counter(ch, c.calls, s.CallsTimedOut, "timeout")
	counter(ch, c.calls, s.CallsFailed, "failed")
	counter(ch, c.retransmits, s.Retransmits)
	counter(ch, c.requests, s.Requests)
	counter(ch, c.cacheHits, s.CacheHits)
	counter(ch, c.errorReplies, s.ErrorReplies)
	d := s.Drops
	for reason, v := range map[string]uint64{
		"malformed": d.Malformed, "oversize": d.Oversize, "unknown_id": d.UnknownID, "wrong_sender": d.WrongSender,
		"overload": d.Overload, "rate_limited": d.RateLimited, "duplicate": d.Duplicate, "kernel": d.Kernel,
		"unproven": d.Unproven,
	} {
		counter(ch, c.drops, v, reason)
	}
	gauge(ch, c.pending, float64(s.Pending))
	gauge(ch, c.running, float64(s.Running))
}

func (c *nodeCollector) collectTable(ch chan<- prometheus.Metric, m kademlia.Metrics) {
	total := 0
	for i, b := range c.table().Buckets {
		idx, depth := strconv.Itoa(i), strconv.Itoa(b.Depth)
		gauge(ch, c.bucketContacts, float64(len(b.Contacts)), idx, depth)
		gauge(ch, c.bucketReplacements, float64(b.Replacements), idx, depth)
		total += len(b.Contacts)
	}
	gauge(ch, c.tableContacts, float64(total))
	gauge(ch, c.storedKeys, float64(m.StoredKeys))
	gauge(ch, c.storedBytes, float64(m.StoredBytes))
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// histogram sends h, whose counts are per bucket, as Prometheus's
// cumulative buckets.
func histogram(ch chan<- prometheus.Metric, d *prometheus.Desc, h kademlia.Histogram, labels ...string) {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		cum += h.Counts[i]
		buckets[b] = cum
	}
	ch <- prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets, labels...)
}

// serveMetrics listens on addr and serves node's metrics on /metrics
// until ctx ends; it returns the address it listens on, and a function
// that waits for the server to stop.
func serveMetrics(ctx context.Context, addr string, node *kademlia.Node, log *slog.Logger) (net.Addr, func(), error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(newNodeCollector(node.Metrics, node.Table)); err != nil {
		return nil, nil, err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server stopped", "err", err)
		}
	}()
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	return ln.Addr(), func() {
		if stop() { // ctx never ended: shut down now
			srv.Close()
		}
		<-done
	}, nil
}

// startServices saves a state file that does not exist yet (so that the
// node's id survives even a crash) and starts the -metrics server. It
// returns the function that stops the server (and waits for it), or an
// exit code other than exitOK on failure.
func startServices(ctx context.Context, o options, node *kademlia.Node, log *slog.Logger, stdout, stderr io.Writer) (func(), int) {
	if o.state != "" {
		if _, err := os.Stat(o.state); errors.Is(err, fs.ErrNotExist) {
			if err := node.SaveState(o.state, 0); err != nil {
				return nil, fail(stderr, exitFail, err)
			}
		}
	}
	if o.metrics == "" {
		return func() {}, exitOK
	}
	addr, stop, err := serveMetrics(ctx, o.metrics, node, log)
	if err != nil {
		return nil, fail(stderr, exitFail, err)
	}
	fmt.Fprintf(stdout, "metrics on http://%s/metrics\n", addr)
	return stop, exitOK
}
