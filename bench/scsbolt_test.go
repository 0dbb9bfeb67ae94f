package bench

// scs's own bbolt store, github.com/alexedwards/scs/boltstore, is a
// separate module that the module proxy this project builds from does not
// serve. scsBoltStore is its Find, Commit and Delete as published
// (github.com/alexedwards/scs, boltstore/boltstore.go at commit 85bfcb2,
// MIT licence, Copyright (c) 2016 Alex Edwards), without the cleanup
// goroutine, so that scs is measured on the store it ships.

import (
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

var scsBucket = []byte("scs:session")

// scsBoltStore is an scs.Store on a bbolt file.
type scsBoltStore struct{ db *bolt.DB }

func newSCSBoltStore(db *bolt.DB) *scsBoltStore {
	db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(scsBucket)
		return err
	})
	return &scsBoltStore{db: db}
}

// Find implements scs.Store.
func (bs *scsBoltStore) Find(token string) (b []byte, exists bool, err error) {
	var val []byte
	err = bs.db.View(func(tx *bolt.Tx) error {
		bucket := tx.Bucket(scsBucket)
		val = bucket.Get([]byte(token))
		if val == nil {
			return nil
		}
		if uint64(time.Now().UnixNano()) > binary.BigEndian.Uint64(val[:8]) {
			val = nil
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if val == nil {
		return nil, false, nil
	}
	return val[8:], true, err
}

// Commit implements scs.Store.
func (bs *scsBoltStore) Commit(token string, b []byte, expiry time.Time) error {
	return bs.db.Update(func(tx *bolt.Tx) error {
		buf := make([]byte, 8)
		binary.BigEndian.PutUint64(buf, uint64(expiry.UnixNano()))
		val := append(buf, b...)
		return tx.Bucket(scsBucket).Put([]byte(token), val)
	})
}

// Delete implements scs.Store.
func (bs *scsBoltStore) Delete(token string) error {
	return bs.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(scsBucket).Delete([]byte(token))
	})
}
