//! Asking for many keys one after another: what a source without a batch
//! call does for a batch.

use std::future::Future;

/// `one(key)` for every key in turn, the answers in the order of `keys`;
/// the first error ends it.
pub(crate) async fn in_turn<K, T, E, Fut>(
    keys: impl IntoIterator<Item = K>,
    mut one: impl FnMut(K) -> Fut,
) -> Result<Vec<T>, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let keys = keys.into_iter();
    let mut out = Vec::with_capacity(keys.size_hint().0);
    for k in keys {
        out.push(one(k).await?);
    }
    Ok(out)
}
