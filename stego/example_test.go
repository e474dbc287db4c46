package stego_test

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"log"

	"veil/stego"
)

func Example() {
	key, err := stego.NewKey(nil)
	if err != nil {
		log.Fatal(err)
	}
	var secret bytes.Buffer // any PNG, JPEG or GIF file
	png.Encode(&secret, image.NewGray(image.Rect(0, 0, 8, 8)))

	meta := stego.Meta{Owner: "olivia", Viewers: map[string]int{"alice": 3, "bob": 1}}
	veiled, meta, err := stego.Hide(secret.Bytes(), meta, nil, key, stego.Options{})
	if err != nil {
		log.Fatal(err)
	}

	got, gotMeta, err := stego.Reveal(veiled, key, stego.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(bytes.Equal(got, secret.Bytes()), gotMeta.ID == meta.ID, gotMeta.Viewers["alice"])

	other, _ := stego.NewKey(nil)
	_, _, err = stego.Reveal(veiled, other, stego.Options{})
	fmt.Println(err)
	// Output:
	// true true 3
	// stego: no payload for this key (not veiled, or veiled with another key)
}

func ExampleCapacityOf() {
	fmt.Println(stego.CapacityOf(640, 480), stego.CapacityOf(1920, 1080), stego.CapacityOf(64, 64))
	// Output: 55138 386338 0
}
