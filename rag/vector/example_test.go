package vector_test

import (
	"fmt"

	"github.com/keelai/keel/rag/vector"
)

func Example() {
	ix := vector.New(3)
	err := ix.Put(
		vector.Item{ID: "cats", Vector: []float32{0.9, 0.1, 0}, Meta: vector.Meta{"lang": "en"}},
		vector.Item{ID: "chats", Vector: []float32{0.8, 0.2, 0}, Meta: vector.Meta{"lang": "fr"}},
		vector.Item{ID: "cars", Vector: []float32{0, 0.1, 0.9}, Meta: vector.Meta{"lang": "en"}},
	)
	if err != nil {
		panic(err)
	}
	hits, _ := ix.Search([]float32{1, 0, 0}, 2, nil)
	for _, h := range hits {
		fmt.Printf("%s %.3f\n", h.ID, h.Score)
	}
	hits, _ = ix.SearchMeta([]float32{1, 0, 0}, 2, vector.Where(vector.Meta{"lang": "en"}))
	fmt.Println(hits[0].ID, hits[1].ID)
	// Output:
	// cats 0.994
	// chats 0.970
	// cats cars
}
