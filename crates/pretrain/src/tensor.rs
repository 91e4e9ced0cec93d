//! Reading tensors back to the host. A leaf module (only the error type below it), used by the
//! objectives, the training loop, the evaluation and the export alike.

use burn::tensor::Tensor;

use crate::error::{PretrainError, Result};

/// Values of a tensor, read back to the host as `f32`; `what` names the tensor in the error.
pub fn host<const D: usize>(t: Tensor<D>, what: &str) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| PretrainError::Tensor {
            what: what.to_string(),
            reason: format!("{e:?}"),
        })
}
