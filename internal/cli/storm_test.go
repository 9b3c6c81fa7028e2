package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchkeeper/watchkeeper/internal/incident"
	"github.com/watchkeeper/watchkeeper/internal/slack"
	"github.com/watchkeeper/watchkeeper/internal/slack/slackfake"
	"github.com/watchkeeper/watchkeeper/internal/store"
	"github.com/watchkeeper/watchkeeper/internal/testserver"
)

// stormAlert is one alert's notification, as Alertmanager's webhook
// sends it.
func stormAlert(name, svc, fp, status string, startsAt time.Time) []byte {
	labels := map[string]string{"alertname": name, "namespace": "shop", "service": svc, "severity": "critical", "pod": fp}
	endsAt := "0001-01-01T00:00:00Z"
	if status == "resolved" {
		endsAt = startsAt.Add(5 * time.Minute).UTC().Format(time.RFC3339)
	}
	common := map[string]string{"alertname": name, "namespace": "shop", "service": svc, "severity": "critical"}
	b, _ := json.Marshal(map[string]any{"version": "4", "groupKey": fmt.Sprintf("{}:{alertname=%q, service=%q}", name, svc),
		"status": status, "receiver": "watchkeeper", "groupLabels": map[string]string{"alertname": name, "service": svc},
		"commonLabels": common, "commonAnnotations": map[string]string{}, "externalURL": "http://alertmanager",
		"alerts": []map[string]any{{"status": status, "labels": labels, "annotations": map[string]string{"summary": name + " on " + fp},
			"startsAt": startsAt.UTC().Format(time.RFC3339), "endsAt": endsAt, "generatorURL": "http://prometheus/graph", "fingerprint": fp}}})
	return b
}

// TestTwoReplicasStorm runs two bot processes on one PostgreSQL and one
// Lease behind a fake Slack and splits an alert storm across them: 300 alerts (5 alert
// names × 3 groups × 20 alerts) sent by 8 senders at once, alternating
// replicas; the incidents acknowledged on both replicas at once midway;
// then every alert resolved the same way. The result is what one replica
// makes of it: one incident per alert name holding its three groups, one
// parent message each, every alert and every timeline event kept, one
// acknowledgement per incident.
func TestTwoReplicasStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and two processes")
	}
	// The package's PostgreSQL (main_test.go), shared with
	// TestTwoReplicas: a database of its own.
	dsn := testserver.SharedPostgres(t).NewDatabase(t)
	// Several replicas elect the one that delivers Slack messages (without
	// it, each delivers the outbox as if it were alone, and a message can
	// go out twice): the Lease is in a real API server, the package's, in
	// a namespace of its own.
	k := testserver.SharedKubernetes(t)
	ns := k.Namespace(t, "storm")
	fake := slackfake.New(slackfake.Options{PostBurst: 20})
	defer fake.Close()
	fake.AddChannel(chIncidents, "incidents", true, admin)
	bin := buildBot(t)
	start := func(name string) *replica {
		listen := testserver.FreeAddr(t)
		cfg := fmt.Sprintf(`log: {level: info, format: text}
server: {listen: %q}
store: {driver: postgres}
slack:
  mode: http
  api_url: %q
  alerts: [{channel: %s, match: {}}]
approval: {approvers: [%s]}
incidents: {investigate: false, rate_limit: {per_second: 1000, burst: 1000}}
kubernetes: {kubeconfig: %q}
leader_election: {enabled: true, namespace: %s, identity: %s, lease_duration: %s, renew_deadline: 3s, retry_period: 500ms}
`, listen, fake.URL+"/", chIncidents, admin, k.Kubeconfig, ns, name, leaseDuration)
		return startReplica(t, bin, name, listen, cfg, dsn)
	}
	replicas := []*replica{start("storm-a"), start("storm-b")}
	ctx := context.Background()
	st, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	const names, groups, perGroup = 5, 3, 20
	startsAt := time.Now().Add(-2 * time.Minute)
	var firing, resolved [][]byte
	for n := range names {
		for g := range groups {
			for a := range perGroup {
				name, svc := fmt.Sprintf("Storm%d", n), fmt.Sprintf("svc-%d", g)
				fp := fmt.Sprintf("%s-%s-%02d", name, svc, a)
				firing = append(firing, stormAlert(name, svc, fp, "firing", startsAt))
				resolved = append(resolved, stormAlert(name, svc, fp, "resolved", startsAt))
			}
		}
	}
	rng := rand.New(rand.NewPCG(11, 12))
	rng.Shuffle(len(firing), func(i, j int) { firing[i], firing[j] = firing[j], firing[i] })
	rng.Shuffle(len(resolved), func(i, j int) { resolved[i], resolved[j] = resolved[j], resolved[i] })
	send := func(bodies [][]byte) {
		t.Helper()
		next := make(chan int)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := range next {
					r := replicas[(i+w)%2]
					if code := post(t, r.url+"/webhooks/alertmanager", "application/json", bodies[i], nil); code != 200 {
						t.Errorf("notification %d to %s: HTTP %d", i, r.name, code)
					}
				}
			})
		}
		for i := range bodies {
			next <- i
		}
		close(next)
		wg.Wait()
	}

	send(firing[:150])
	// Midway, the on-call engineers acknowledge each incident — two at
	// once, on both replicas.
	var incs []store.Incident
	waitUntil(t, 60*time.Second, "every incident's message is delivered", func() bool {
		incs, _ = st.ListIncidents(ctx, store.IncidentOpen, 100)
		for _, in := range incs {
			if in.ThreadTS == "" {
				return false
			}
		}
		return len(incs) > 0
	})
	var wg sync.WaitGroup
	for _, in := range incs {
		for i, r := range replicas {
			click, _ := json.Marshal(fake.Click(chIncidents, admin, in.ThreadTS, slack.ActionAck, in.ID))
			body := []byte(url.Values{"payload": {string(click)}}.Encode())
			wg.Go(func() {
				if code := post(t, r.url+"/slack/interactions", "application/x-www-form-urlencoded", body,
					signedAt(body, time.Now().Add(-time.Duration(i)*time.Second))); code != 200 {
					t.Errorf("acknowledge on %s: HTTP %d", r.name, code)
				}
			})
		}
	}
	wg.Wait()
	send(firing[150:])
	send(resolved)

	all, err := st.ListIncidents(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var shapes []string
	alerts := 0
	for _, raw := range all {
		var d incident.Data
		if err := json.Unmarshal(raw.Data, &d); err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, e := range d.Timeline {
			kinds[e.Kind]++
		}
		alerts += len(d.Alerts)
		shapes = append(shapes, fmt.Sprintf("%s %s: %d alerts, %d groups, timeline opened %d merged %d firing %d resolved %d acknowledged %d",
			d.CommonLabels["alertname"], raw.Status, len(d.Alerts), len(d.GroupKeys), kinds["opened"], kinds["merged"], kinds["firing"], kinds["resolved"], kinds["acknowledged"]))
	}
	sort.Strings(shapes)
	var want []string
	for n := range names {
		want = append(want, fmt.Sprintf("Storm%d resolved: %d alerts, %d groups, timeline opened 1 merged %d firing %d resolved %d acknowledged 1",
			n, groups*perGroup, groups, groups-1, groups*perGroup, groups*perGroup+1))
	}
	if strings.Join(shapes, "\n") != strings.Join(want, "\n") {
		t.Errorf("incidents:\n%s\nwant:\n%s", strings.Join(shapes, "\n"), strings.Join(want, "\n"))
	}
	if alerts != names*groups*perGroup {
		t.Errorf("%d of %d alerts kept", alerts, names*groups*perGroup)
	}
	parents := 0
	for _, m := range fake.BotMessages(chIncidents, "") {
		if strings.Contains(m.Text, "Storm") {
			parents++
		}
	}
	if parents != names {
		t.Errorf("%d parent messages, want %d", parents, names)
	}
}
