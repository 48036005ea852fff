"""The study xbench measures: Chua et al., "Crosslingual Capabilities and Knowledge Barriers in Multilingual LLMs"."""

TITLE = "Crosslingual Capabilities and Knowledge Barriers in Multilingual Large Language Models"
ARXIV = "https://arxiv.org/abs/2406.16135"
OFFICIAL_CODE = "https://github.com/google-research/crosslingual-knowledge-barriers"

STUDY_CITATION = """@article{chua2024crosslingual,
  title={Crosslingual Capabilities and Knowledge Barriers in Multilingual Large Language Models},
  author={Chua, Lynn and Ghazi, Badih and Huang, Yangsibo and Kamath, Pritish and Kumar, Ravi and Manurangsi, Pasin and Sinha, Amer and Xie, Chulin and Zhang, Chiyuan},
  journal={arXiv preprint arXiv:2406.16135},
  year={2024}
}"""
