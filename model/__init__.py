"""The networks: conv trunks (patent VGG16, edge CNN), the FC -> recurrent conversion of
eq. 5, GRU/LSTM cells, variational dropout, pose/landmark heads.

Importing this package does not import torch; its modules do (model.network, ...).
"""
