// Where a model argument points, for every frontend (CLI, Python): a model directory as given, or
// a Hugging Face hub id ("gpt2", "EleutherAI/pythia-70m", "ORG/NAME@REVISION") found in the local
// Hugging Face cache, laid out as huggingface_hub writes it:
//   CACHE/models--ORG--NAME/refs/REVISION        the commit a branch or tag points to
//   CACHE/models--ORG--NAME/snapshots/COMMIT/    config.json, *.safetensors, tokenizer files
// Nothing is downloaded: a model not in the cache is an error saying where we looked.
#pragma once
#include <string>

namespace cs {

// The hub cache huggingface_hub uses: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE (its older
// name), else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
std::string hf_hub_cache_dir();

// An existing directory is returned unchanged. Otherwise `arg` is read as a hub id with an
// optional "@REVISION" (a branch or tag under refs/, or a commit; default "main") and resolved to
// its snapshot directory; when refs/ has no such name and the cache holds exactly one snapshot,
// that one. Throws cs::Error naming the argument and the cache path when neither is found.
std::string resolve_model_path(const std::string& arg);

}  // namespace cs
