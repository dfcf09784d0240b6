//! Conversion between the model's types and the store's own record types (`schema7.rs`), field
//! by field: every field converts with `.convert()`, whatever its type, so the conversions read
//! as plain field lists and a field of the wrong type is a compile error.

/// Converts `self` into `T`, its counterpart on the other side of the store boundary.
pub trait Convert<T> {
    fn convert(self) -> T;
}

/// Types that are the same on both sides.
macro_rules! same {
    ($($t:ty),*) => {$(
        impl Convert<$t> for $t {
            fn convert(self) -> $t {
                self
            }
        }
    )*};
}

same!(String, bool, u8, u16, u32, u64, i64);

impl<A: Convert<B>, B> Convert<Option<B>> for Option<A> {
    fn convert(self) -> Option<B> {
        self.map(Convert::convert)
    }
}

impl<A: Convert<B>, B> Convert<Vec<B>> for Vec<A> {
    fn convert(self) -> Vec<B> {
        self.into_iter().map(Convert::convert).collect()
    }
}

impl<A: Convert<C>, B: Convert<D>, C, D> Convert<(C, D)> for (A, B) {
    fn convert(self) -> (C, D) {
        (self.0.convert(), self.1.convert())
    }
}
