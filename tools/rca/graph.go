package rca

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// graph is the call graph over the ranked services, by index.
type graph struct {
	callees, callers [][]int
}

func newGraph(out []Ranked, edges [][2]string) graph {
	idx := make(map[string]int, len(out))
	for i, r := range out {
		idx[r.Service] = i
	}
	g := graph{callees: make([][]int, len(out)), callers: make([][]int, len(out))}
	seen := map[[2]int]bool{}
	for _, e := range edges {
		a, ok1 := idx[e[0]]
		b, ok2 := idx[e[1]]
		if !ok1 || !ok2 || a == b || seen[[2]int{a, b}] {
			continue
		}
		seen[[2]int{a, b}] = true
		g.callees[a] = append(g.callees[a], b)
		g.callers[b] = append(g.callers[b], a)
	}
	return g
}

// explainers say which anomaly of a callee explains which symptom of its
// caller: slow calls and latency are explained by a slow callee, errors
// by a failing or collapsed one.
var explainers = []struct {
	effect Role
	causes []Role
}{
	{RoleLatency, []Role{RoleLatency}},
	{RoleClient, []Role{RoleLatency, RoleCollapse}},
	{RoleErrors, []Role{RoleErrors, RoleCollapse}},
}

// lonePrior is the chance, relative to the caller's own, that the callees
// nobody else calls share of having caused a caller's unexplained slow or
// failing calls: measured, the caller itself is the likelier culprit when
// nothing corroborates a callee (docs/benchmarks.md).
const lonePrior = 0.3

// explain uses the call graph both ways, under the assumption that one
// fault explains the case.
//
// Down the graph: a service's symptoms (its latency, errors and slow
// outgoing calls) are explained by a callee that shows the same symptom at
// least as strongly (it is slow or failing; the caller only waits for
// it), or by the service's own resources (its CPU, its memory). Its
// traffic is explained by a caller whose traffic moved as much (requests
// flow down), and so are its resources when its traffic moved as much as
// they did. What is explained is taken off the service's own score, so the
// symptom ranks below the cause.
//
// Up the graph: symptoms nothing explains are left dangling, and a
// dangling symptom is either the service's own (a bug, its own network) or
// the network to one of its callees (a delay or loss on that callee's
// pods, invisible in the callee's own metrics). A callee that the
// service's other callers also find slow or failing is as likely as the
// service; callees nobody else calls share a smaller chance. Each callee
// collects its shares from all its callers, combined with its own evidence
// as a noisy OR; the service keeps the rest.
func explain(out []Ranked, edges [][2]string, t tuning) {
	g := newGraph(out, edges)
	n := len(out)
	share := 1.0
	if t.explainShare > 0 {
		share = t.explainShare
	}
	prior := lonePrior
	if t.lonePrior > 0 {
		prior = t.lonePrior
	}
	role := func(i int, r Role) float64 { return out[i].roles[r] }
	silent := func(i int) float64 {
		if out[i].silent {
			return 0.5
		}
		return 0
	}

	dangling := make([]float64, n)
	explainedBy := make([]int, n)
	for p := range out {
		explainedBy[p] = -1
		self := role(p, RoleResource)
		explained := 0.0 // the most of a symptom a callee explains
		for _, ex := range explainers {
			eff := role(p, ex.effect)
			if eff <= 0 {
				continue
			}
			expl, by := 0.0, -1
			for _, c := range g.callees[p] {
				cause := silent(c)
				for _, r := range ex.causes {
					cause = math.Max(cause, role(c, r))
				}
				if x := explainsShare(cause, eff); x > expl {
					expl, by = x, c
				}
			}
			if eff*expl > math.Max(explained, 0.05) {
				explained, explainedBy[p] = eff*expl, by
			}
			left := eff * (1 - share*expl) * (1 - share*explainsShare(self, eff))
			dangling[p] = math.Max(dangling[p], left)
		}
	}

	// support is the share of a callee's other callers whose symptoms
	// dangle clearly too (a delay or loss on its pods slows all of them);
	// -1 when it has no other callers.
	support := func(c, except int) float64 {
		s, k := 0.0, 0
		for _, q := range g.callers[c] {
			if q != except {
				s += math.Min(1, dangling[q]/clearAnomaly)
				k++
			}
		}
		if k == 0 {
			return -1
		}
		return s / float64(k)
	}
	selfShare := make([]float64, n)
	notBlamed := make([]float64, n) // 1 − the noisy OR of the shares
	blamers := make([][]string, n)
	for i := range out {
		selfShare[i], notBlamed[i] = 1, 1
	}
	for p := range out {
		d := dangling[p]
		if d <= 0 || len(g.callees[p]) == 0 {
			continue
		}
		w := make([]float64, len(g.callees[p]))
		lone := 0
		for k, c := range g.callees[p] {
			if s := support(c, p); s < 0 {
				lone++
				w[k] = -1
			} else {
				w[k] = s
			}
		}
		total := 1.0
		for k := range w {
			if w[k] < 0 {
				w[k] = prior / float64(lone)
			}
			total += w[k]
		}
		selfShare[p] = 1 / total
		for k, c := range g.callees[p] {
			s := d * w[k] / total
			notBlamed[c] *= 1 - s
			if s > 0.05 {
				blamers[c] = append(blamers[c], out[p].Service)
			}
		}
	}

	for i := range out {
		r := &out[i]
		traffic := role(i, RoleTraffic)
		tby, texpl := -1, 0.0
		for _, p := range g.callers[i] {
			if x := explainsShare(role(p, RoleTraffic), traffic); x > texpl {
				tby, texpl = p, x
			}
		}
		// Resources follow traffic: a callee of a surge saturates too.
		resource := role(i, RoleResource)
		resource *= 1 - share*texpl*explainsShare(traffic/kindWeight(RoleTraffic), resource)
		traffic *= 1 - share*texpl
		own := max(resource, role(i, RoleOther), role(i, RoleCollapse), traffic, dangling[i]*selfShare[i])
		if r.silent {
			own = math.Max(own, 0.5)
		}
		if own < r.Own-1e-9 {
			switch {
			case tby >= 0 && texpl > 0 && role(i, RoleTraffic) >= math.Max(role(i, RoleLatency), role(i, RoleErrors)):
				r.Decided += fmt.Sprintf("; its traffic follows %s's", out[tby].Service)
			case explainedBy[i] >= 0:
				r.Decided += fmt.Sprintf("; its latency or errors follow %s's", out[explainedBy[i]].Service)
			case selfShare[i] < 0.6:
				r.Decided += "; its slow or failing calls may be its callees' network"
			}
		}
		score := own
		if b := 1 - notBlamed[i]; b > 0 {
			if b > score && len(blamers[i]) > 0 {
				sort.Strings(blamers[i])
				if len(blamers[i]) > 4 {
					blamers[i] = append(blamers[i][:4], fmt.Sprintf("%d more", len(blamers[i])-4))
				}
				r.Decided = "calls to it from " + strings.Join(blamers[i], ", ") + " are slow or failing and nothing else explains them"
			}
			if t.maxBlame {
				score = math.Max(score, b)
			} else {
				// Own evidence and callers' slow calls are two
				// independent reasons: combined as a noisy OR.
				score = 1 - (1-b)*(1-score)
			}
		}
		r.Score = math.Min(score, 1)
	}
}

// kindWeight is the trust in the first kind of the table with the role.
func kindWeight(r Role) float64 {
	for _, k := range kindRules {
		if k.kind.role == r {
			return k.kind.weight
		}
	}
	return 1
}

// explainsShare is how much of an anomaly of strength effect a cause of
// strength cause explains: nothing while the cause is under half as
// strong, all of it once the cause is as strong.
func explainsShare(cause, effect float64) float64 {
	if effect <= 0 {
		return 0
	}
	return math.Min(1, math.Max(0, 2*cause/effect-1))
}

// walk scores services by a personalised random walk (MicroRCA-style):
// from a service the walk moves to a callee in proportion to the callee's
// own anomaly, or restarts at a service in proportion to own anomaly; the
// score is own anomaly times the visit share (relative to the most
// visited). Kept for comparison (docs/benchmarks.md).
func walk(out []Ranked, edges [][2]string) {
	n := len(out)
	if n == 0 {
		return
	}
	g := newGraph(out, edges)
	pers := make([]float64, n)
	total := 0.0
	for i, r := range out {
		pers[i] = r.Own + 1e-6
		total += pers[i]
	}
	for i := range pers {
		pers[i] /= total
	}
	const damp = 0.85
	p := append([]float64(nil), pers...)
	q := make([]float64, n)
	for iter := 0; iter < 100; iter++ {
		for i := range q {
			q[i] = (1 - damp) * pers[i]
		}
		restart := 0.0
		for i, outs := range g.callees {
			if len(outs) == 0 {
				restart += damp * p[i]
				continue
			}
			w := 0.0
			for _, j := range outs {
				w += out[j].Own + 1e-6
			}
			for _, j := range outs {
				q[j] += damp * p[i] * (out[j].Own + 1e-6) / w
			}
		}
		for j := range q {
			q[j] += restart * pers[j]
		}
		diff := 0.0
		for i := range q {
			diff += math.Abs(q[i] - p[i])
		}
		p, q = q, p
		if diff < 1e-10 {
			break
		}
	}
	most := 0.0
	for _, v := range p {
		most = math.Max(most, v)
	}
	for i := range out {
		out[i].Score = out[i].Own * p[i] / most
	}
}
