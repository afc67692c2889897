package tracker

import "testing"

func TestSet(t *testing.T) {
	var s Set[int]
	if !s.Add(1) || !s.Add(2) || s.Len() != 2 {
		t.Fatal("Add to an open set failed")
	}
	sum := 0
	s.Each(func(v int) { sum += v })
	if sum != 3 {
		t.Errorf("Each saw members summing to %d, want 3", sum)
	}
	members, drained := s.Close()
	if len(members) != 2 || !s.Closed() {
		t.Fatalf("Close returned %v", members)
	}
	if s.Add(3) {
		t.Error("Add to a closed set succeeded")
	}
	s.Remove(1)
	select {
	case <-drained:
		t.Fatal("drained with a member left")
	default:
	}
	s.Remove(2)
	s.Remove(2) // twice is harmless
	select {
	case <-drained:
	default:
		t.Fatal("not drained once empty")
	}
	if _, again := s.Close(); again != drained {
		t.Error("a second Close returned another channel")
	}
	var empty Set[string]
	if _, d := empty.Close(); d == nil {
		t.Error("nil channel")
	} else {
		<-d // an empty set is drained at once
	}
}
