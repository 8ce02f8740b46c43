//! `f` over a slice on a few scoped threads, results in the slice's order: the trainer's
//! image decoding (data loading, packing, pack reading).

use anyhow::Result;

/// `f` applied to every item of `items`, split into `threads` contiguous parts run at
/// once; the results come back in the items' order. A thread that panics is an error
/// naming `what` (e.g. "image-decoding"), never a shifted result.
pub fn map_in_order<T, R, F>(items: &[T], threads: usize, what: &str, f: F) -> Result<Vec<R>>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let chunk = items.len().div_ceil(threads.max(1)).max(1);
    let f = &f;
    let parts = std::thread::scope(|sc| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| sc.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                let article = if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                h.join()
                    .map_err(|_| anyhow::anyhow!("{article} {what} thread panicked"))
            })
            .collect::<Result<Vec<_>>>()
    })?;
    Ok(parts.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_and_a_panic_is_an_error() {
        let items: Vec<u32> = (0..103).collect();
        for threads in [0, 1, 3, 200] {
            let out = map_in_order(&items, threads, "test", |&i| i * 2).unwrap();
            assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        }
        let empty: Vec<u32> = Vec::new();
        assert!(map_in_order(&empty, 2, "test", |&i| i).unwrap().is_empty());
        let e = map_in_order(&items, 3, "image-decoding", |&i| {
            assert!(i != 50, "boom");
            i
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "an image-decoding thread panicked");
    }
}
