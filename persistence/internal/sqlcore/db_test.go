package sqlcore

import "testing"

func TestRebindQuestion(t *testing.T) {
	tests := map[string]string{
		"SELECT 1":          "SELECT 1",
		"a = $1 AND b = $2": "a = ? AND b = ?",
		"VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)": "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
		"SET a = $2 WHERE id = $1":                    "SET a = ?2 WHERE id = ?1",
		"x = $1 OR y = $1":                            "x = ?1 OR y = ?1",
		"$1, $3":                                      "?1, ?3",
		"price $ 5 and $":                             "price $ 5 and $",
	}
	for in, want := range tests {
		if got := RebindQuestion(in); got != want {
			t.Errorf("RebindQuestion(%q) = %q, want %q", in, got, want)
		}
	}
}
