package loggen

// Scores are the log-parsing benchmark's measures of a grouping.
type Scores struct {
	// GA is grouping accuracy: the share of lines whose predicted group
	// holds exactly the lines of their true group.
	GA float64
	// F1 is the pairwise F-measure: precision and recall over the pairs
	// of lines put in one group.
	F1 float64
	// Groups and TrueGroups count the predicted and the true groups.
	Groups, TrueGroups int
}

// Score compares a predicted grouping with the truth, line by line, as
// logpai's evaluator does (both slices have one entry per line; equal
// values are one group).
func Score[T, P comparable](truth []T, pred []P) Scores {
	byPred := map[P][]int{}
	truthSize := map[T]int{}
	for i := range truth {
		byPred[pred[i]] = append(byPred[pred[i]], i)
		truthSize[truth[i]]++
	}
	pairs := func(n int) float64 { return float64(n) * float64(n-1) / 2 }
	var realPairs, predPairs, goodPairs float64
	for _, n := range truthSize {
		realPairs += pairs(n)
	}
	correct := 0
	for _, lines := range byPred {
		predPairs += pairs(len(lines))
		counts := map[T]int{}
		for _, l := range lines {
			counts[truth[l]]++
		}
		for _, n := range counts {
			goodPairs += pairs(n)
		}
		if len(counts) == 1 && truthSize[truth[lines[0]]] == len(lines) {
			correct += len(lines)
		}
	}
	s := Scores{Groups: len(byPred), TrueGroups: len(truthSize)}
	if len(truth) > 0 {
		s.GA = float64(correct) / float64(len(truth))
	}
	// No pair anywhere (every line alone) is a perfect score when the
	// truth has no pair either.
	precision, recall := 1.0, 1.0
	if predPairs > 0 {
		precision = goodPairs / predPairs
	}
	if realPairs > 0 {
		recall = goodPairs / realPairs
	}
	if precision+recall > 0 {
		s.F1 = 2 * precision * recall / (precision + recall)
	}
	return s
}
