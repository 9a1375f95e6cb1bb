//! A map from path to value holding at most `capacity` entries, the least recently used evicted
//! first: a slab of slots linked in recency order, and a hash map from path to slot. Which entry
//! is evicted depends only on the order of the calls, never on the hasher, so a seeded test
//! replays exactly. Every operation is O(1); the slab never grows past `capacity` slots.

use std::collections::HashMap;
use std::sync::Arc;

const NIL: u32 = u32::MAX;

#[derive(Debug)]
struct Slot<V> {
    key: Arc<str>,
    value: V,
    /// Towards the most recently used.
    prev: u32,
    /// Towards the least recently used.
    next: u32,
}

#[derive(Debug)]
pub(crate) struct Lru<V> {
    map: HashMap<Arc<str>, u32>,
    slots: Vec<Slot<V>>,
    /// Most recently used, or NIL.
    head: u32,
    /// Least recently used, or NIL.
    tail: u32,
    capacity: usize,
    evictions: u64,
}

impl<V> Lru<V> {
    /// At most `capacity` entries (at least 1, at most `u32::MAX - 1`).
    pub(crate) fn new(capacity: usize) -> Lru<V> {
        Lru {
            map: HashMap::new(),
            slots: Vec::new(),
            head: NIL,
            tail: NIL,
            capacity: capacity.clamp(1, (NIL - 1) as usize),
            evictions: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Entries evicted to make room since construction.
    pub(crate) fn evictions(&self) -> u64 {
        self.evictions
    }

    /// The value for `key`, without making it recently used.
    pub(crate) fn peek(&self, key: &str) -> Option<&V> {
        self.map.get(key).map(|&i| &self.slots[i as usize].value)
    }

    /// The value for `key`, without making it recently used.
    pub(crate) fn peek_mut(&mut self, key: &str) -> Option<&mut V> {
        let i = *self.map.get(key)?;
        Some(&mut self.slots[i as usize].value)
    }

    /// The value for `key`, made the most recently used; inserted with `make` if absent
    /// (evicting the least recently used entry when full). The bool says whether it was
    /// inserted.
    #[cfg(test)]
    pub(crate) fn get_or_insert_with(
        &mut self,
        key: &str,
        make: impl FnOnce() -> V,
    ) -> (&mut V, bool) {
        let (i, inserted) = self.touch(key, make);
        (&mut self.slots[i as usize].value, inserted)
    }

    /// The slot of `key`'s entry, made the most recently used; inserted with `make` if absent
    /// (evicting the least recently used entry when full). The bool says whether it was
    /// inserted. One hash lookup; the slot stays `key`'s until the next insertion (read it
    /// with [`Lru::at`], [`Lru::at_mut`], [`Lru::key_at`]).
    pub(crate) fn touch(&mut self, key: &str, make: impl FnOnce() -> V) -> (u32, bool) {
        if let Some(&i) = self.map.get(key) {
            self.move_to_front(i);
            return (i, false);
        }
        let key: Arc<str> = Arc::from(key);
        let i = if self.slots.len() < self.capacity {
            if self.slots.len() == self.slots.capacity() {
                let more = self
                    .slots
                    .len()
                    .max(16)
                    .min(self.capacity - self.slots.len());
                self.slots.reserve_exact(more);
            }
            self.slots.push(Slot {
                key: key.clone(),
                value: make(),
                prev: NIL,
                next: NIL,
            });
            (self.slots.len() - 1) as u32
        } else {
            let i = self.tail;
            self.unlink(i);
            let slot = &mut self.slots[i as usize];
            self.map.remove(&slot.key);
            slot.key = key.clone();
            slot.value = make();
            self.evictions += 1;
            i
        };
        self.map.insert(key, i);
        self.link_front(i);
        (i, true)
    }

    /// The value in slot `i` (from [`Lru::touch`]).
    pub(crate) fn at(&self, i: u32) -> &V {
        &self.slots[i as usize].value
    }

    /// The value in slot `i` (from [`Lru::touch`]).
    pub(crate) fn at_mut(&mut self, i: u32) -> &mut V {
        &mut self.slots[i as usize].value
    }

    /// The key of slot `i` (from [`Lru::touch`]), shared.
    pub(crate) fn key_at(&self, i: u32) -> &Arc<str> {
        &self.slots[i as usize].key
    }

    fn move_to_front(&mut self, i: u32) {
        if self.head != i {
            self.unlink(i);
            self.link_front(i);
        }
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let s = &self.slots[i as usize];
            (s.prev, s.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.slots[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n as usize].prev = prev,
        }
    }

    fn link_front(&mut self, i: u32) {
        let old = self.head;
        {
            let s = &mut self.slots[i as usize];
            s.prev = NIL;
            s.next = old;
        }
        match old {
            NIL => self.tail = i,
            o => self.slots[o as usize].prev = i,
        }
        self.head = i;
    }

    /// Bytes this map itself takes per entry (slot, and the hash map's bucket with its control
    /// byte), not counting the key's heap allocation or what `V` owns.
    pub(crate) fn bytes_per_slot() -> usize {
        std::mem::size_of::<Slot<V>>() + std::mem::size_of::<(Arc<str>, u32)>() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used() {
        let mut lru = Lru::new(3);
        for k in ["a", "b", "c"] {
            lru.get_or_insert_with(k, || k.to_string());
        }
        lru.get_or_insert_with("a", || unreachable!());
        let (_, inserted) = lru.get_or_insert_with("d", || "d".into());
        assert!(inserted);
        assert_eq!(lru.peek("b"), None, "b was the least recently used");
        assert_eq!(lru.peek("a").map(String::as_str), Some("a"));
        assert_eq!((lru.len(), lru.evictions()), (3, 1));
        lru.get_or_insert_with("e", || "e".into());
        assert_eq!(lru.peek("c"), None);
        assert!(lru.peek("d").is_some() && lru.peek("e").is_some());
    }
}
