//! Label strings interned to `u32` ids, so a series key is a few integers and a label value
//! is stored once however many series carry it.

use std::hash::{BuildHasher, Hasher};

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

/// An interned label string (a name or a value).
pub type Sym = u32;

#[derive(Default)]
pub struct Symbols {
    strs: Vec<Box<str>>,
    table: HashTable<Sym>,
}

fn hash(s: &str) -> u64 {
    let mut h = FxBuildHasher.build_hasher();
    h.write(s.as_bytes());
    h.finish()
}

impl Symbols {
    pub fn get(&self, s: &str) -> Option<Sym> {
        self.table
            .find(hash(s), |&id| &*self.strs[id as usize] == s)
            .copied()
    }

    pub fn intern(&mut self, s: &str) -> Sym {
        let h = hash(s);
        if let Some(&id) = self.table.find(h, |&id| &*self.strs[id as usize] == s) {
            return id;
        }
        let id = Sym::try_from(self.strs.len()).expect("fewer than 4 billion label strings");
        self.strs.push(s.into());
        let strs = &self.strs;
        self.table
            .insert_unique(h, id, |&i| hash(&strs[i as usize]));
        id
    }

    pub fn resolve(&self, sym: Sym) -> &str {
        &self.strs[sym as usize]
    }

    pub fn len(&self) -> usize {
        self.strs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strs.is_empty()
    }
}
