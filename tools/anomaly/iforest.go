package anomaly

import (
	"math"
	"math/rand/v2"
)

// Forest is an isolation forest (Liu, Ting and Zhou, 2008): random trees
// that split on a random feature at a random value until a point stands
// alone. Anomalies are isolated in fewer splits. Building is seeded, so
// the same data and seed give the same forest.
//
// Trees are stored as flat node arrays with the left child next to its
// parent, which keeps scoring within a few cache lines per tree.
type Forest struct {
	trees   []complete
	sample  int
	cNorm   float64 // c(sample): the average path length normalising scores
	dims    int
	heightL int
}

// complete is a tree laid out as a complete binary tree of depth heightL
// in heap order (children of i at 2i+1 and 2i+2). A leaf above the last
// level is padded with nodes that always go left, so every point takes
// exactly heightL steps and the walk has no data-dependent branch; the
// path length of each last-level slot, including the leaf's c(size), is
// precomputed.
type complete struct {
	levels int
	nodes  []cnode
	depth  []float64 // per last-level slot: path length
}

// cnode is one inner node: the split value and the feature, together so
// that one load brings both.
type cnode struct {
	split float32
	feat  int32
}

type node struct {
	// split is the split value, or at a leaf the expected further depth
	// c(size) of the points it holds.
	split float64
	// right is the index of the right child; 0 marks a leaf (the left
	// child is always the next node).
	right int32
	feat  int32
}

// ForestOptions configure a forest; zero values are the usual defaults.
type ForestOptions struct {
	Trees  int    // default 100
	Sample int    // points per tree, default 256
	Seed   uint64 // default 1
}

// c is the average path length of an unsuccessful search in a binary
// search tree of n points: the expected depth of a point among n.
func c(n int) float64 {
	if n <= 1 {
		return 0
	}
	if n == 2 {
		return 1
	}
	h := math.Log(float64(n-1)) + 0.5772156649015329
	return 2*h - 2*float64(n-1)/float64(n)
}

// FitForest builds a forest from points (rows of equal length).
func FitForest(points [][]float64, o ForestOptions) *Forest {
	if o.Trees <= 0 {
		o.Trees = 100
	}
	if o.Sample <= 0 {
		o.Sample = 256
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	psi := min(o.Sample, len(points))
	f := &Forest{sample: psi, cNorm: c(psi)}
	if len(points) == 0 {
		return f
	}
	f.dims = len(points[0])
	f.heightL = int(math.Ceil(math.Log2(math.Max(float64(psi), 2))))
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	idx := make([]int, len(points))
	for i := range idx {
		idx[i] = i
	}
	sub := make([]int, psi)
	for range o.Trees {
		// A sample without replacement: a partial Fisher–Yates shuffle.
		for i := 0; i < psi; i++ {
			j := i + rng.IntN(len(idx)-i)
			idx[i], idx[j] = idx[j], idx[i]
			sub[i] = idx[i]
		}
		tree := make([]node, 0, 2*psi)
		tree = f.grow(tree, points, sub, 0, rng)
		f.trees = append(f.trees, f.flatten(tree))
	}
	return f
}

// grow appends the subtree for the points in sub and returns the tree.
func (f *Forest) grow(tree []node, pts [][]float64, sub []int, depth int, rng *rand.Rand) []node {
	at := len(tree)
	tree = append(tree, node{})
	if depth >= f.heightL || len(sub) <= 1 {
		tree[at].split = c(len(sub))
		return tree
	}
	// Pick a feature that varies in this node; give up after a few tries
	// (all points equal: a leaf).
	feat, lo, hi := -1, 0.0, 0.0
	for try := 0; try < f.dims*2 && feat < 0; try++ {
		q := rng.IntN(f.dims)
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, i := range sub {
			v := pts[i][q]
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		if hi > lo {
			feat = q
		}
	}
	if feat < 0 {
		tree[at].split = c(len(sub))
		return tree
	}
	split := lo + rng.Float64()*(hi-lo)
	// Partition sub in place: left < split.
	l := 0
	for r := 0; r < len(sub); r++ {
		if pts[sub[r]][feat] < split {
			sub[l], sub[r] = sub[r], sub[l]
			l++
		}
	}
	tree[at].feat, tree[at].split = int32(feat), split
	tree = f.grow(tree, pts, sub[:l], depth+1, rng)
	tree[at].right = int32(len(tree))
	return f.grow(tree, pts, sub[l:], depth+1, rng)
}

// flatten lays a grown tree out as a complete tree.
func (f *Forest) flatten(t []node) complete {
	d := f.heightL
	inner := 1<<d - 1
	ct := complete{levels: d, nodes: make([]cnode, inner), depth: make([]float64, 1<<d)}
	for i := range ct.nodes {
		ct.nodes[i].split = float32(math.Inf(1)) // padding: always left
	}
	var place func(src int32, pos, depth int)
	place = func(src int32, pos, depth int) {
		n := t[src]
		if n.right == 0 {
			// Walk the always-left padding down to the last level.
			leafDepth := depth
			for depth < d {
				pos = 2*pos + 1
				depth++
			}
			ct.depth[pos-inner] = float64(leafDepth) + n.split
			return
		}
		// float32 splits halve the tree's size; the split is rounded up so
		// that the comparison below means the same as in float64.
		sp := float32(n.split)
		if float64(sp) < n.split {
			sp = math.Nextafter32(sp, float32(math.Inf(1)))
		}
		ct.nodes[pos] = cnode{split: sp, feat: n.feat}
		place(src+1, 2*pos+1, depth+1)
		place(n.right, 2*pos+2, depth+1)
	}
	place(0, 0, 0)
	return ct
}

// Score returns the anomaly score of x in (0, 1]: about 0.5 or less for
// ordinary points, approaching 1 for points isolated at once.
func (f *Forest) Score(x []float64) float64 {
	if len(f.trees) == 0 || f.cNorm == 0 {
		return 0.5
	}
	total := 0.0
	for _, t := range f.trees {
		total += pathLength(t, x)
	}
	return math.Pow(2, -total/float64(len(f.trees))/f.cNorm)
}

// ScoreBatch scores many points tree by tree, which keeps each tree in
// cache while the points go through it, and walks eight points at once so
// that their independent walks overlap in the processor: the fast way to
// score a series.
func (f *Forest) ScoreBatch(xs [][]float64, out []float64) {
	flat := make([]float32, 0, len(xs)*f.dims)
	for _, x := range xs {
		for _, v := range x[:f.dims] {
			flat = append(flat, float32(v))
		}
	}
	f.ScoreFlat(flat, out[:len(xs)])
}

// ScoreFlat is ScoreBatch for points stored row after row in one slice,
// in single precision.
func (f *Forest) ScoreFlat(data []float32, out []float64) {
	n, d := len(out), f.dims
	for i := range out {
		out[i] = 0
	}
	if len(f.trees) == 0 || f.cNorm == 0 {
		for i := range out {
			out[i] = 0.5
		}
		return
	}
	for _, t := range f.trees {
		nodes, inner, depth := t.nodes, len(t.nodes), t.depth
		k := 0
		// Four walks at once, in registers: each step of one walk waits
		// for its loads, and the others fill the wait.
		for ; k+4 <= n; k += 4 {
			r0, r1, r2, r3 := data[k*d:(k+1)*d], data[(k+1)*d:(k+2)*d], data[(k+2)*d:(k+3)*d], data[(k+3)*d:(k+4)*d]
			p0, p1, p2, p3 := 0, 0, 0, 0
			for range t.levels {
				n0, n1, n2, n3 := nodes[p0], nodes[p1], nodes[p2], nodes[p3]
				p0 = 2*p0 + 1 + b2i(r0[n0.feat] >= n0.split)
				p1 = 2*p1 + 1 + b2i(r1[n1.feat] >= n1.split)
				p2 = 2*p2 + 1 + b2i(r2[n2.feat] >= n2.split)
				p3 = 2*p3 + 1 + b2i(r3[n3.feat] >= n3.split)
			}
			out[k] += depth[p0-inner]
			out[k+1] += depth[p1-inner]
			out[k+2] += depth[p2-inner]
			out[k+3] += depth[p3-inner]
		}
		for ; k < n; k++ {
			i, row := 0, data[k*d:(k+1)*d]
			for range t.levels {
				nd := nodes[i]
				i = 2*i + 1 + b2i(row[nd.feat] >= nd.split)
			}
			out[k] += depth[i-inner]
		}
	}
	trees := float64(len(f.trees))
	for i := range out {
		out[i] = math.Pow(2, -out[i]/trees/f.cNorm)
	}
}

func pathLength(t complete, x []float64) float64 {
	i := 0
	for range t.levels {
		nd := t.nodes[i]
		i = 2*i + 1 + b2i(float32(x[nd.feat]) >= nd.split)
	}
	return t.depth[i-len(t.nodes)]
}

// b2i is 1 for true; the compiler makes it a flag move, not a branch.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
