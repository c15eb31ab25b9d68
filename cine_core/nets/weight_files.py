"""Where the official weight files come from: the table ``install_deps.py --models`` downloads.

Imports nothing (the installer reads it with the standard library alone, before any package is
installed). Every file here is one that :data:`cine_core.nets.checkpoints.NETWORKS` loads.

Every URL below is copied from the original projects' own code or README (quoted in
docs/models.md); none could be fetched from the machine this was written on, so they are
unverified until a user's download succeeds. Hashes: only the DPT file has one published, as the
8-hex-digit SHA-256 prefix in its name (torch.hub convention; MiDaS's hubconf.py loads it with
check_hash=True). No other hash or size is published, and none is made up here: those files are
checked for being complete (the server's length) and readable only.
"""

#: The 3D Cinemagraphy weights are one zip on Google Drive (README: "Download pretrained models
#: from Google Drive, then unzip and put them in the directory ckpts"); its member layout is not
#: documented, so members are matched by file name.
CINEMAGRAPHY_DRIVE_ID = "1ROxvB7D-vNYl4eYmIzZ5Gitg84amMd19"
CINEMAGRAPHY_ZIP = "3d-cinemagraphy-ckpts.zip"

MODELS: list[dict] = [
    {"file": "dpt_hybrid-midas-501f0c75.pt",
     "urls": ["https://github.com/intel-isl/MiDaS/releases/download/v3/dpt_hybrid-midas-501f0c75.pt",
              "https://github.com/intel-isl/DPT/releases/download/1_0/dpt_hybrid-midas-501f0c75.pt"],
     "sha256_prefix": "501f0c75",
     "page": "https://github.com/isl-org/MiDaS/releases/tag/v3"},
    {"file": "dpt_hybrid-ade20k-53898607.pt",
     "urls": ["https://github.com/intel-isl/DPT/releases/download/1_0/dpt_hybrid-ade20k-53898607.pt"],
     "page": "https://github.com/isl-org/DPT (README, Segmentation)"},
    {"file": "depth-model.pth",
     "urls": ["https://filebox.ece.vt.edu/~jbhuang/project/3DPhoto/model/depth-model.pth"],
     "page": "https://github.com/vt-vl-lab/3d-photo-inpainting (download.sh)"},
    {"file": "color-model.pth",
     "urls": ["https://filebox.ece.vt.edu/~jbhuang/project/3DPhoto/model/color-model.pth"],
     "page": "https://github.com/vt-vl-lab/3d-photo-inpainting (download.sh)"},
    {"file": "model_150000.pth", "archive": CINEMAGRAPHY_ZIP,
     "page": f"https://drive.google.com/file/d/{CINEMAGRAPHY_DRIVE_ID}/view (3D Cinemagraphy README)"},
    {"file": "sceneflow_model.pth", "archive": CINEMAGRAPHY_ZIP,
     "page": f"https://drive.google.com/file/d/{CINEMAGRAPHY_DRIVE_ID}/view (3D Cinemagraphy README)"},
    {"file": "depth_anything_v2_vits.pth",
     "urls": ["https://huggingface.co/depth-anything/Depth-Anything-V2-Small/resolve/main/"
              "depth_anything_v2_vits.pth"],
     "page": "https://github.com/DepthAnything/Depth-Anything-V2 (README, Depth-Anything-V2-Small)"},
]
ARCHIVES: dict[str, dict] = {
    CINEMAGRAPHY_ZIP: {
        "urls": [f"https://drive.usercontent.google.com/download?id={CINEMAGRAPHY_DRIVE_ID}"
                 f"&export=download&confirm=t"],
        "page": f"https://drive.google.com/file/d/{CINEMAGRAPHY_DRIVE_ID}/view"},
}
